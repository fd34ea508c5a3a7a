import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { pullPathProblem } from '../../lib/confine.ts'
import { run } from '../../lib/exec.ts'
import { keyFingerprint } from '../../lib/hostkeys.ts'

describe('pull confinement', () => {
  const origin = mkdtempSync(join(tmpdir(), 'famlab-confine-'))
  const snap = '2026-11-23T101500Z'
  mkdirSync(join(origin, snap, 'docs'), { recursive: true })
  writeFileSync(join(origin, snap, 'docs/letter.txt'), 'hi\n')
  symlinkSync('/rsyncd-munged//etc', join(origin, snap, 'evil'))
  symlinkSync('../..', join(origin, snap, 'docs/up'))
  after(() => rmSync(origin, { recursive: true, force: true }))

  it('allows a replica, a directory and a file in it, and a link itself', () => {
    for (const path of [`${snap}/`, snap, `${snap}/docs/`, `${snap}/docs/letter.txt`, `${snap}/evil`]) {
      assert.equal(pullPathProblem(origin, path), undefined, path)
    }
  })

  it('refuses going through a link, through a file, or to something missing', () => {
    assert.match(pullPathProblem(origin, `${snap}/evil/`)!, /symlink/)
    assert.match(pullPathProblem(origin, `${snap}/evil/passwd`)!, /symlink/)
    assert.match(pullPathProblem(origin, `${snap}/docs/up/`)!, /symlink/)
    assert.match(pullPathProblem(origin, `${snap}/docs/letter.txt/x`)!, /not a directory/)
    assert.match(pullPathProblem(origin, `${snap}/docs/letter.txt/`)!, /not a directory/)
    assert.match(pullPathProblem(origin, '2026-11-23T101501Z/')!, /does not exist/)
  })
})

describe('host key fingerprints', () => {
  it('match ssh-keygen -l', async () => {
    const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICTpCUCAN0aBkyX4NSWlIOknu++aL+8zopZK92RnEOEw'
    const file = join(mkdtempSync(join(tmpdir(), 'famlab-fp-')), 'key.pub')
    writeFileSync(file, `${key} test\n`)
    const listed = (await run(['ssh-keygen', '-lf', file])).stdout.split(' ')[1]
    rmSync(file)
    assert.equal(keyFingerprint(key), listed)
  })
})
