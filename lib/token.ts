// Invite tokens: one line a person can paste. Carries how to reach the inviter, the host key to
// pin, and a one-use key that the inviter authorized for `join` only. Pure encode/decode.
import { createHash } from 'node:crypto'
import { NODE_NAME } from './config.ts'

export type InviteToken = {
  inviter: string
  host: string
  port: number
  user: string
  /** The inviter's sshd host key (`ssh-ed25519 AAAA…`), pinned for the join. */
  hostKey: string
  id: string
  seed: Buffer
  /** Unix seconds, by the inviter's clock. */
  expires: number
}

const PREFIX = 'famlab1'

const checksum = (payload: string) => createHash('sha256').update(payload).digest('base64url').slice(0, 6)

export function encodeToken(token: InviteToken): string {
  const compact = {
    n: token.inviter, h: token.host, p: token.port, u: token.user,
    k: token.hostKey.split(' ')[1], i: token.id, s: token.seed.toString('base64url'), e: token.expires,
  }
  const payload = Buffer.from(JSON.stringify(compact)).toString('base64url')
  return `${PREFIX}.${payload}.${checksum(payload)}`
}

/** Returns the token, or a sentence saying why it is unusable. */
export function decodeToken(text: string): InviteToken | string {
  const parts = text.trim().split('.')
  if (parts[0] !== PREFIX) return 'this is not a famlab invite token (it should start with "famlab1.")'
  if (parts.length !== 3 || checksum(parts[1]) !== parts[2]) return 'the invite token is incomplete or mistyped (its checksum does not match); copy the whole line again'
  let c: Record<string, unknown>
  try {
    c = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'))
  } catch {
    return 'the invite token is damaged'
  }
  const seed = typeof c.s === 'string' ? Buffer.from(c.s, 'base64url') : Buffer.alloc(0)
  const valid =
    typeof c.n === 'string' && NODE_NAME.test(c.n) &&
    typeof c.h === 'string' && /^[A-Za-z0-9.:_-]+$/.test(c.h) &&
    Number.isInteger(c.p) && (c.p as number) > 0 && (c.p as number) < 65536 &&
    typeof c.u === 'string' && /^[a-z_][a-z0-9_-]{0,31}$/.test(c.u) &&
    typeof c.k === 'string' && /^[A-Za-z0-9+/]+={0,2}$/.test(c.k) &&
    typeof c.i === 'string' && /^[0-9a-f]{16}$/.test(c.i) &&
    seed.length === 32 && Number.isInteger(c.e)
  if (!valid) return 'the invite token is damaged (a field is missing or malformed)'
  return {
    inviter: c.n as string, host: c.h as string, port: c.p as number, user: c.u as string,
    hostKey: `ssh-ed25519 ${c.k}`, id: c.i as string, seed, expires: c.e as number,
  }
}
