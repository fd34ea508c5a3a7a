// The holder's side of a transfer, run by `serve` as ssh.user inside replicas/<origin>/.
// Invariant: a directory named <snap> is complete and never written again by a peer.
import { existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, statfsSync } from 'node:fs'
import { join } from 'node:path'
import { isBtrfs } from './btrfs.ts'
import { isSnapshotName } from './clock.ts'
import { offeredModes, type TransferMode } from './modes.ts'
import { INCOMPLETE, INCOMPLETE_BASIS, RESUME } from './paths.ts'
import { listSnapshots } from './snapshots.ts'
import type { PeerSpace } from './space.ts'

/**
 * Gives every write transfer a fresh, empty `.incomplete`. An interrupted one becomes `.resume`,
 * used only as a link-dest basis: its files may be hard links into complete replicas, and rsync
 * fixes attribute-only differences in place, which would change those replicas too.
 */
export function prepareIncomplete(originDir: string): void {
  const incomplete = join(originDir, INCOMPLETE)
  const resume = join(originDir, RESUME)
  rmSync(join(originDir, INCOMPLETE_BASIS), { force: true })
  if (existsSync(incomplete)) {
    if (readdirSync(incomplete).length === 0) return
    rmSync(resume, { recursive: true, force: true })
    renameSync(incomplete, resume)
  }
  mkdirSync(incomplete, { mode: 0o700 })
}

/** The newest complete replica ssh.user can read: send mode's are root's alone. */
export function newestOwnReplica(originDir: string): string | undefined {
  return listSnapshots(originDir).filter((name) => lstatSync(join(originDir, name)).uid === process.getuid?.()).at(-1)
}

/** What rsync may link against, relative to `.incomplete/`: the newest complete replica and `.resume`. */
export function linkDests(originDir: string): string[] {
  const newest = newestOwnReplica(originDir)
  return [
    ...(newest ? [`../${newest}`] : []),
    ...(existsSync(join(originDir, RESUME)) ? [`../${RESUME}`] : []),
  ]
}

export type FinalizeResult = { ok: true } | { ok: false; reason: string }

/** Why `.incomplete` cannot become `<snap>` now, if it cannot. */
export function finalizeRefusal(originDir: string, snap: string): string | undefined {
  if (!isSnapshotName(snap)) return `"${snap.slice(0, 40)}" is not a snapshot name`
  if (!existsSync(join(originDir, INCOMPLETE))) return 'there is no transfer to finalize'
  if (existsSync(join(originDir, snap))) return `${snap} is already complete and cannot be replaced`
  return undefined
}

/** Names the finished `.incomplete` as `<snap>`, atomically. Never replaces a complete replica. */
export function finalizeIncomplete(originDir: string, snap: string): FinalizeResult {
  const refusal = finalizeRefusal(originDir, snap)
  if (refusal) return { ok: false, reason: refusal }
  renameSync(join(originDir, INCOMPLETE), join(originDir, snap))
  for (const leftover of [RESUME, INCOMPLETE_BASIS]) rmSync(join(originDir, leftover), { recursive: true, force: true })
  return { ok: true }
}

export type HolderStatus = {
  node: string
  version: number
  /** Tells two member lists with the same version apart (changes made at the same time). */
  membership_digest?: string
  origin: string
  replicas: string[]
  incomplete: boolean
  filesystem: 'btrfs' | 'other'
  /** What this holder can receive; absent from holders older than the modes. */
  modes?: TransferMode[]
  free_bytes: number
  total_bytes: number
  /** The capacity agreement as this holder sees it (added by serve; absent from older peers). */
  space?: PeerSpace
}

export function holderStatus(node: string, version: number, origin: string, originDir: string, rootReceiver = false): HolderStatus {
  const where = existsSync(originDir) ? originDir : join(originDir, '..')
  const fs = statfsSync(where)
  const onBtrfs = isBtrfs(where)
  return {
    node,
    version,
    origin,
    replicas: listSnapshots(originDir),
    incomplete: existsSync(join(originDir, INCOMPLETE)),
    filesystem: onBtrfs ? 'btrfs' : 'other',
    modes: offeredModes(onBtrfs, rootReceiver),
    free_bytes: fs.bavail * fs.bsize,
    total_bytes: fs.blocks * fs.bsize,
  }
}
