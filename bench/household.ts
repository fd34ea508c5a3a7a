// A household tree that looks real, generated from a seed: photo-sized, document-sized and tiny
// files in deep and wide folders, hardlinks, xattrs, and a Time Machine sparsebundle of 8 MiB bands.
import { closeSync, fstatSync, ftruncateSync, linkSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { dirname, join } from 'node:path'
import { runChecked } from '../lib/exec.ts'
import { seededRandom } from '../test/harness/tree.ts'

export const BAND_BYTES = 8 << 20

export type Household = { files: string[]; bands: string[]; bytes: number }

/** Incompressible bytes, cheap: one random block, rotated by a per-file offset. */
const NOISE = Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => (Math.imul(i + 1, 2654435761) >>> 13) & 0xff))
function payload(size: number, salt: number): Buffer {
  const out = Buffer.allocUnsafe(size)
  for (let at = 0; at < size; at += NOISE.length) NOISE.copy(out, at, (salt * 7919 + at) % 4096)
  out.writeUInt32LE(salt >>> 0, 0)
  return out
}

/** Where the i-th file lives and how big it is: 0.5 % photos, 10 % documents, the rest tiny. */
function fileFor(i: number, random: () => number): { path: string; size: number } {
  const kind = random()
  if (kind < 0.005) {
    const year = 2010 + (i % 16)
    return { path: `photos/${year}/${String(1 + (i % 12)).padStart(2, '0')}/event-${i % 37}/IMG_${i}.jpg`, size: 600_000 + Math.floor(random() * 2_400_000) }
  }
  if (kind < 0.105) {
    const depth = 1 + (i % 8)
    const folders = Array.from({ length: depth }, (_, d) => `folder-${(i >> d) % 5}`).join('/')
    return { path: `documents/${folders}/report ${i}.pdf`, size: 4_000 + Math.floor(random() * 60_000) }
  }
  // One wide folder of thousands of small files, as mail stores and caches have.
  if (kind < 0.2) return { path: `home/mail/cur/${i}.eml`, size: 200 + Math.floor(random() * 4_000) }
  return { path: `home/src/project-${i % 200}/mod-${(i >> 3) % 10}/file-${i}.txt`, size: 100 + Math.floor(random() * 2_000) }
}

export async function writeHousehold(dir: string, count: number, seed = 1): Promise<Household> {
  const random = seededRandom(seed)
  const files: string[] = []
  let bytes = 0
  const made = new Set<string>()
  for (let i = 0; i < count; i++) {
    const { path, size } = fileFor(i, random)
    const file = join(dir, path)
    const parent = dirname(file)
    if (!made.has(parent)) {
      mkdirSync(parent, { recursive: true })
      made.add(parent)
    }
    writeFileSync(file, payload(size, i))
    files.push(path)
    bytes += size
  }
  // Hardlinks (1 %): the same photo filed in two albums.
  mkdirSync(join(dir, 'photos/albums/favourites'), { recursive: true })
  for (let i = 0; i < files.length; i += 100) linkSync(join(dir, files[i]), join(dir, `photos/albums/favourites/${i}-${files[i].split('/').pop()}`))
  // xattrs (1 %), in one setfattr call rather than one process per file.
  const dump = files.filter((_, i) => i % 100 === 50).map((f) => `# file: ${f}\nuser.famlab.tag="${f.length}"\nuser.comment="kept by famlab bench"\n`).join('\n')
  writeFileSync(join(dir, '.xattrs'), dump)
  await runChecked(['bash', '-c', 'cd "$1" && setfattr --restore=.xattrs && rm .xattrs', 'xattrs', dir])
  const bands = writeSparsebundle(join(dir, 'timemachine/mac/Mac.sparsebundle'), Math.max(4, Math.round(count / 5000)))
  return { files, bands, bytes: bytes + bands.length * 3 * (1 << 20) }
}

/** Bands are sparse 8 MiB files with 3 MiB written, as a half-full disk image has. */
function writeSparsebundle(bundle: string, bandCount: number): string[] {
  mkdirSync(join(bundle, 'bands'), { recursive: true })
  writeFileSync(join(bundle, 'Info.plist'), '<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict><key>band-size</key><integer>8388608</integer></dict></plist>\n')
  writeFileSync(join(bundle, 'token'), '')
  const bands: string[] = []
  for (let b = 0; b < bandCount; b++) {
    const band = join(bundle, 'bands', b.toString(16))
    const fd = openSync(band, 'w')
    ftruncateSync(fd, BAND_BYTES)
    for (const mib of [0, 3, 6]) writeSync(fd, payload(1 << 20, b * 10 + mib), 0, 1 << 20, mib << 20)
    closeSync(fd)
    bands.push(band)
  }
  return bands
}

/** Rewrites `fraction` of the files with new random bytes of the same size; returns the bytes changed. */
export function touchFiles(dir: string, household: Household, fraction: number, round: number): number {
  const random = seededRandom(1000 + round)
  let changed = 0
  const step = Math.max(1, Math.round(1 / fraction))
  for (let i = Math.floor(random() * step); i < household.files.length; i += step) {
    const file = join(dir, household.files[i])
    const fd = openSync(file, 'r+')
    const size = fstatSync(fd).size
    writeSync(fd, randomBytes(size), 0, size, 0)
    closeSync(fd)
    changed += size
  }
  return changed
}

/** Rewrites MiBs in the middle of one band with new bytes, as Time Machine does; returns the bytes changed. */
export function rewriteBand(band: string, mebibytes = 1): number {
  const fd = openSync(band, 'r+')
  writeSync(fd, randomBytes(mebibytes << 20), 0, mebibytes << 20, 2 << 20)
  closeSync(fd)
  return mebibytes << 20
}
