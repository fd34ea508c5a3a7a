import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { countFiles, holdsNoFiles, listFiles } from '../../lib/files.ts'
import { humanBytes } from '../../lib/sizes.ts'
import { normalizeSubpath } from '../../lib/subpath.ts'
import { sampleFiles, snapshotsToVerify } from '../../lib/verify.ts'

describe('restore --path', () => {
  it('cleans a relative path', () => {
    assert.equal(normalizeSubpath('--path', './timemachine//alice/'), 'timemachine/alice')
    assert.equal(normalizeSubpath('--path', 'café ünïcode.txt'), 'café ünïcode.txt')
  })
  for (const bad of ['/etc/passwd', '../carol', 'docs/../../x', '', '.', '//']) {
    it(`refuses "${bad}"`, () => assert.throws(() => normalizeSubpath('--path', bad), /--path/))
  }
})

describe('counting files', () => {
  it('counts everything but directories, without following links, and stops at a limit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'famlab-files-'))
    try {
      mkdirSync(join(dir, 'timemachine/alice'), { recursive: true })
      assert.ok(holdsNoFiles(dir), 'empty folders hold no files')
      writeFileSync(join(dir, 'timemachine/alice/a'), 'a')
      writeFileSync(join(dir, 'b'), 'b')
      symlinkSync('/etc', join(dir, 'link'))
      assert.equal(countFiles(dir), 3)
      assert.equal(countFiles(dir, 2), 2)
      assert.deepEqual(listFiles(dir).sort(), ['b', 'link', 'timemachine/alice/a'])
      assert.ok(!holdsNoFiles(dir))
    } finally {
      rmSync(dir, { recursive: true })
    }
  })
})

describe('verify choices', () => {
  it('samples a percentage of the files, at least one, without repeats', () => {
    const files = Array.from({ length: 200 }, (_, i) => `f${i}`)
    const sample = sampleFiles(files, 10)
    assert.equal(sample.length, 20)
    assert.equal(new Set(sample).size, 20)
    assert.ok(sample.every((f) => files.includes(f)))
    assert.equal(sampleFiles(files, 0.1).length, 1)
    assert.equal(sampleFiles(files, 100).length, 200)
  })

  it('checks the newest snapshot both sides hold, or all of them', () => {
    const local = ['2026-11-21T100000Z', '2026-11-22T100000Z', '2026-11-23T100000Z']
    const held = ['2026-11-20T100000Z', '2026-11-21T100000Z', '2026-11-22T100000Z']
    assert.deepEqual(snapshotsToVerify(local, held, false), ['2026-11-22T100000Z'])
    assert.deepEqual(snapshotsToVerify(local, held, true), ['2026-11-21T100000Z', '2026-11-22T100000Z'])
    assert.deepEqual(snapshotsToVerify(local, [], true), [])
  })
})

describe('sizes for people', () => {
  it('uses binary units', () => {
    assert.equal(humanBytes(512), '512 B')
    assert.equal(humanBytes(1536), '1.5 KiB')
    assert.equal(humanBytes(21 << 20), '21 MiB')
  })
})
