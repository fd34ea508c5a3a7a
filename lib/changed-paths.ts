// Snapshot mode's shortcut past rsync's walk: btrfs already knows what changed between two of this
// node's snapshots. `btrfs send --no-data -p` lists it in a fraction of a second, where rsync would
// stat 150,000 files on both sides to find the same few. rsync then compares just those paths.
import { execFile } from 'node:child_process'
import { lstatSync, readdirSync, type Stats } from 'node:fs'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { ATTR, CMD, COMMAND_HEADER, STREAM_HEADER, parseAttributes } from './send-stream.ts'

const execFileAsync = promisify(execFile)

/** A metadata-only stream of a reorganised household can be large; past this, rsync walks instead. */
const MAX_STREAM_BYTES = 256 << 20

/** What a send stream names, as latin1 strings (bytes kept as they are): "" is the subvolume's root. */
export type StreamPaths = { named: Set<string>; renamedTo: Set<string> }

/**
 * Every path the stream acts on, or moves or links something to. Temporary names (`o257-7-0`) and
 * paths that are gone by the end are among them; so is everything that differs.
 */
export function pathsInStream(stream: Buffer): StreamPaths {
  const named = new Set<string>()
  const renamedTo = new Set<string>()
  for (let at = STREAM_HEADER; at + COMMAND_HEADER <= stream.length;) {
    const length = stream.readUInt32LE(at)
    const command = stream.readUInt16LE(at + 4)
    const attributes = parseAttributes(stream.subarray(at + COMMAND_HEADER, at + COMMAND_HEADER + length))
    at += COMMAND_HEADER + length
    if (command === CMD.SUBVOL || command === CMD.SNAPSHOT || command === CMD.END) continue
    const path = attributes.get(ATTR.PATH)?.toString('latin1')
    if (path !== undefined) named.add(path)
    const to = attributes.get(ATTR.PATH_TO)?.toString('latin1')
    if (command === CMD.RENAME && to !== undefined) {
      named.add(to)
      renamedTo.add(to)
    }
    // A new name for an existing file changes that file's link count: rsync -H must see both.
    const linked = attributes.get(ATTR.PATH_LINK)?.toString('latin1')
    if (command === CMD.LINK && linked !== undefined) named.add(linked)
  }
  return { named, renamedTo }
}

/** `rel` (latin1, as the stream has it) under `root` (a path of ours), as the bytes the kernel knows. */
const under = (root: string, rel: string) => Buffer.concat([Buffer.from(`${root}/`), Buffer.from(rel, 'latin1')])

/** Every name below `rel`, relative to `root`. */
function namesBelow(root: string, rel: string): string[] {
  const names: string[] = []
  for (const entry of readdirSync(under(root, rel), { withFileTypes: true, encoding: 'buffer' })) {
    const name = join(rel, entry.name.toString('latin1'))
    names.push(name)
    if (entry.isDirectory()) names.push(...namesBelow(root, name))
  }
  return names
}

/** rsync compares every file instead, and why. */
export type CompareAll = { compareAll: string }

/** What is at `rel` in `root`, if anything: a directory there may be a file in the other snapshot. */
function lstatIn(root: string, rel: string): Stats | undefined {
  try {
    return lstatSync(under(root, rel))
  } catch (err) {
    if (['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) return undefined
    throw err
  }
}

const isLinked = (root: string, rel: string) => {
  const stat = lstatIn(root, rel)
  return stat !== undefined && stat.isFile() && stat.nlink > 1
}

/**
 * What rsync must look at to turn a copy of `parent` into `snap` (latin1, for `--files-from
 * --from0`), with names gone from `snap` left in for `--delete-missing-args`.
 */
export async function changedPaths(parent: string, snap: string): Promise<string[] | CompareAll> {
  let stream: Buffer
  try {
    stream = (await execFileAsync('btrfs', ['send', '-q', '--no-data', '-p', parent, snap], { encoding: 'buffer', maxBuffer: MAX_STREAM_BYTES })).stdout
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') return { compareAll: `over ${MAX_STREAM_BYTES >> 20} MiB changed` }
    throw err
  }
  const { named, renamedTo } = pathsInStream(stream)
  const list = new Set(['.'])
  for (const path of named) {
    const found = lstatIn(snap, path)
    // A name gone from `snap` is deleted by the holder's rsync; one whose directory is gone too
    // (a temporary name, or inside a deleted or moved directory) goes with that directory.
    if (!found && !lstatIn(snap, dirname(path))?.isDirectory()) continue
    // btrfs names one name of a changed hard-linked file, and rsync --inplace would write through
    // its old links: the holder must first give each linked name its own inode, which takes a walk.
    if (isLinked(snap, path) || isLinked(parent, path)) return { compareAll: 'a hard-linked file changed' }
    list.add(path || '.')
    // A moved directory arrives as one rename; rsync (without -r here) needs every name inside it.
    if (renamedTo.has(path) && found?.isDirectory()) {
      for (const inside of namesBelow(snap, path)) {
        if (isLinked(snap, inside)) return { compareAll: 'a moved directory holds hard-linked files' }
        list.add(inside)
      }
    }
  }
  return [...list]
}
