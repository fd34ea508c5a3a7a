import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { run } from '../../lib/exec.ts'
import { newSeed, openSshPrivateKey, publicKeyLine } from '../../lib/keys.ts'
import { decodeToken, encodeToken, type InviteToken } from '../../lib/token.ts'

const token: InviteToken = {
  inviter: 'alice', host: 'alice.example', port: 2222, user: 'famlab',
  hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICTpCUCAN0aBkyX4NSWlIOknu++aL+8zopZK92RnEOEw',
  id: '0123456789abcdef', seed: newSeed(), expires: 1_795_000_000,
}

describe('invite token', () => {
  it('round-trips as one short line', () => {
    const text = encodeToken(token)
    assert.match(text, /^famlab1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{6}$/)
    assert.ok(text.length < 400, `${text.length} characters`)
    assert.deepEqual(decodeToken(text), token)
  })

  it('refuses truncated, mistyped and foreign tokens with a sentence', () => {
    const text = encodeToken(token)
    for (const bad of [text.slice(0, -10), `${text.slice(0, 20)}x${text.slice(21)}`, 'hello', '', `famlab2${text.slice(7)}`]) {
      const result = decodeToken(bad)
      assert.equal(typeof result, 'string', bad)
      assert.ok((result as string).length > 20)
    }
  })

  it('refuses a well-formed token with a malformed field', () => {
    const payload = Buffer.from(JSON.stringify({ n: 'Alice!', h: 'x', p: 1, u: 'famlab', k: 'AAAA', i: '0123456789abcdef', s: 'AA', e: 1 })).toString('base64url')
    const sum = createHash('sha256').update(payload).digest('base64url').slice(0, 6)
    assert.match(decodeToken(`famlab1.${payload}.${sum}`) as string, /damaged/)
  })
})

describe('keys', () => {
  it('writes an OpenSSH private key that ssh-keygen reads back to the same public key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'famlab-keys-'))
    try {
      const seed = newSeed()
      writeFileSync(join(dir, 'key'), openSshPrivateKey(seed, 'test'), { mode: 0o600 })
      const derived = await run(['ssh-keygen', '-y', '-f', join(dir, 'key')])
      assert.equal(derived.code, 0, derived.stderr)
      assert.equal(derived.stdout.trim().split(' ').slice(0, 2).join(' '), publicKeyLine(seed))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
