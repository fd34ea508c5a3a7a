import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseItemized, parseItemizedLine } from '../../lib/itemize.ts'

describe('itemized changes', () => {
  const cases: [string, { path: string; what: string[] } | undefined][] = [
    ['>fc........ docs/photo.jpg', { path: 'docs/photo.jpg', what: ['contents'] }],
    ['>fcst...... docs/letter.txt', { path: 'docs/letter.txt', what: ['contents', 'size', 'mtime'] }],
    ['.f........x docs/photo.jpg', { path: 'docs/photo.jpg', what: ['xattrs'] }],
    ['.f...pog.a. private.key', { path: 'private.key', what: ['permissions', 'owner', 'group', 'ACL'] }],
    ['>f+++++++++ only here.txt', { path: 'only here.txt', what: ['only in the replica'] }],
    ['*deleting   docs/gone.txt', { path: 'docs/gone.txt', what: ['missing from the replica'] }],
    ['cLc.t...... letter-link -> elsewhere', { path: 'letter-link', what: ['link target', 'mtime'] }],
    ['hf......... photo-hardlink.jpg => docs/photo.jpg', { path: 'photo-hardlink.jpg', what: ['hard link'] }],
    ['.d..t...... docs/', { path: 'docs/', what: ['mtime'] }],
    ['Number of files: 12 (reg: 9, dir: 3)', undefined],
    ['sent 1,234 bytes  received 56 bytes  2,580.00 bytes/sec', undefined],
  ]
  for (const [line, expected] of cases) {
    it(`reads "${line}"`, () => assert.deepEqual(parseItemizedLine(line), expected))
  }

  it('keeps only the differences of a whole output', () => {
    assert.equal(parseItemized('>fc........ a\n\nTotal bytes sent: 12\n.f........x b\n').length, 2)
  })
})
