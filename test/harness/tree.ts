// Household-like test data with everything a backup must keep, and a byte-exact comparison.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { run, runChecked } from '../../lib/exec.ts'

/** Owners, modes, xattrs, ACLs, hardlinks, symlinks, empty dirs, a fifo, a sparse file, odd names. */
export async function writeRichTree(dir: string, seed: string): Promise<void> {
  mkdirSync(join(dir, 'docs/deep/er'), { recursive: true })
  mkdirSync(join(dir, 'empty'), { recursive: true })
  mkdirSync(join(dir, 'docs/deep/empty'), { recursive: true })
  writeFileSync(join(dir, 'docs/letter.txt'), `Dear family (${seed}),\n`)
  writeFileSync(join(dir, 'docs/photo.jpg'), randomBytes(300_000))
  writeFileSync(join(dir, 'docs/deep/er/notes.md'), `# notes ${seed}\n`)
  writeFileSync(join(dir, 'with space.txt'), 'spaces\n')
  writeFileSync(join(dir, 'new\nline.txt'), 'newline in the name\n')
  writeFileSync(join(dir, 'café ünïcode.txt'), 'utf-8\n')
  writeFileSync(join(dir, 'private.key'), 'secret\n', { mode: 0o600 })
  await runChecked(['chown', '1234:5678', join(dir, 'docs/letter.txt')])
  await runChecked(['chown', '-h', '4321:8765', join(dir, 'docs/deep')])
  await runChecked(['chmod', '2750', join(dir, 'docs/deep')])
  await runChecked(['chmod', '4755', join(dir, 'docs/deep/er/notes.md')])
  await runChecked(['setfattr', '-n', 'user.comment', '-v', `from ${seed}`, join(dir, 'docs/photo.jpg')])
  await runChecked(['setfacl', '-m', 'u:1234:rw-,g:5678:r--', join(dir, 'docs/letter.txt')])
  await runChecked(['setfacl', '-d', '-m', 'u:1234:rwx', join(dir, 'docs/deep')])
  await runChecked(['ln', join(dir, 'docs/photo.jpg'), join(dir, 'photo-hardlink.jpg')])
  await runChecked(['ln', '-s', 'docs/letter.txt', join(dir, 'letter-link')])
  await runChecked(['ln', '-s', '/etc/hostname', join(dir, 'absolute-link')])
  await runChecked(['ln', '-s', 'nowhere/at/all', join(dir, 'dangling-link')])
  await runChecked(['mkfifo', join(dir, 'a-fifo')])
  await runChecked(['truncate', '-s', '20M', join(dir, 'sparse.img')])
  await runChecked(['dd', 'if=/dev/urandom', `of=${join(dir, 'sparse.img')}`, 'bs=4k', 'count=4', 'seek=1000', 'conv=notrunc', 'status=none'])
  await runChecked(['touch', '-h', '-d', '2001-02-03 04:05:06', join(dir, 'letter-link')])
  await runChecked(['touch', '-d', '1999-12-31 23:59:59', join(dir, 'docs/deep/er/notes.md')])
}

/** Many small files, for link-dest and incremental tests. */
export function writeManyFiles(dir: string, count: number, size: number): void {
  mkdirSync(dir, { recursive: true })
  for (let i = 0; i < count; i++) writeFileSync(join(dir, `file-${String(i).padStart(5, '0')}.bin`), randomBytes(size))
}

/** rsync's own itemized differences between two trees; empty means identical (contents by checksum). */
export async function treeDifferences(expected: string, actual: string): Promise<string[]> {
  const result = await run(['rsync', '-aHAXc', '--numeric-ids', '--dry-run', '--itemize-changes', '--delete', `${expected}/`, `${actual}/`])
  if (!result.ok) throw new Error(`rsync compare failed: ${result.stderr}`)
  return result.stdout.split('\n').filter((line) => line.trim() !== '')
}

/** A small deterministic generator (mulberry32), so two runs with one seed build the same tree. */
export function seededRandom(seed: number): () => number {
  let state = seed
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
