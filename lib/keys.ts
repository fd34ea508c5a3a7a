// Ed25519 keys in OpenSSH formats, made in-process so an invite token can carry a whole key pair.
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto'

const KEY_TYPE = 'ssh-ed25519'
// The fixed PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows it.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

function sshString(data: Buffer | string): Buffer {
  const body = Buffer.from(data)
  const length = Buffer.alloc(4)
  length.writeUInt32BE(body.length)
  return Buffer.concat([length, body])
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

export function newSeed(): Buffer {
  return randomBytes(32)
}

export function publicKeyOf(seed: Buffer): Buffer {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' })
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' })
  return Buffer.from(jwk.x!, 'base64url')
}

/** `ssh-ed25519 AAAA…` as in authorized_keys and known_hosts. */
export function publicKeyLine(seed: Buffer): string {
  const blob = Buffer.concat([sshString(KEY_TYPE), sshString(publicKeyOf(seed))])
  return `${KEY_TYPE} ${blob.toString('base64')}`
}

/** An unencrypted `openssh-key-v1` private key file, as `ssh-keygen -t ed25519 -N ''` writes. */
export function openSshPrivateKey(seed: Buffer, comment: string): string {
  const pub = publicKeyOf(seed)
  const publicBlob = Buffer.concat([sshString(KEY_TYPE), sshString(pub)])
  const check = randomBytes(4).readUInt32BE()
  let secret = Buffer.concat([
    uint32(check), uint32(check),
    sshString(KEY_TYPE), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(comment),
  ])
  const padding = Buffer.from(Array.from({ length: (8 - (secret.length % 8)) % 8 }, (_, i) => i + 1))
  secret = Buffer.concat([secret, padding])
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0'),
    sshString('none'), sshString('none'), sshString(''), uint32(1),
    sshString(publicBlob), sshString(secret),
  ])
  const lines = body.toString('base64').match(/.{1,70}/g)!
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`
}

/** The key part of a public key line (`ssh-ed25519 AAAA…`), dropping any comment. */
export function keyOnly(line: string): string {
  return line.trim().split(/\s+/).slice(0, 2).join(' ')
}
