// Space under the capacity agreement, measured: what replicas use on this node (per origin),
// what is left for the family, and what the next transfer to a peer will need.
import { spawn } from 'node:child_process'
import { existsSync, lstatSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isBtrfs } from './btrfs.ts'
import { offeredBytes, readDisk, roomForPeers } from './capacity.ts'
import type { Config } from './config.ts'
import { run, runChecked } from './exec.ts'
import { FAMLAB_BIN, state, storage } from './paths.ts'
import type { HolderStatus } from './receive.ts'
import { RECEIVING, rootCommand, rootReceiver } from './receive-send.ts'
import { listSnapshots } from './snapshots.ts'
import { readJsonFile, writeStateFile } from './state.ts'

/** What `serve status` tells a sender about room on this node. */
export type PeerSpace = {
  total_bytes: number
  free_bytes: number
  /** The family's part of the disk: (1 - capacity.local_fraction) of it. */
  offered_bytes: number
  /** All complete replicas held here, hard links counted once. */
  used_bytes: number
  /** What one more transfer may take: within the offer and within the free disk. */
  room_bytes: number
  origins: Record<string, number>
}

/** `seconds`: how long the measurement took. */
type UsageCache = { key: string; origins: Record<string, number>; seconds?: number }

const BLOCK = 512

/** Bytes a directory tree holds on btrfs, shared extents and hard links counted once (exclusive + set shared). */
async function btrfsSetUsage(dir: string): Promise<number> {
  const summary = (await runChecked(['btrfs', 'filesystem', 'du', '-s', '--raw', dir])).trim().split('\n').at(-1) ?? ''
  const [, exclusive, setShared] = summary.trim().split(/\s+/)
  return Number(exclusive) + Number(setShared)
}

/**
 * What one origin's replicas use on btrfs. Small files stored inline in metadata have no extent,
 * so the newest replica's du is the floor. Data still in the page cache is flushed first.
 */
export async function originUsage(dir: string): Promise<number> {
  const newest = listSnapshots(dir).at(-1)
  return Math.max(await btrfsSetUsage(dir), newest ? await diskUsage(join(dir, newest)) : 0)
}

/** What `du` says a tree takes on disk, in bytes; 0 when it cannot say (the tree is gone or unreadable). */
export async function diskUsage(dir: string): Promise<number> {
  return Number((await run(['du', '-s', '-B1', '--', dir])).stdout.split(/\s/)[0]) || 0
}

/** Replicas root's btrfs receive wrote keep their owners, out of ssh.user's reach: the root side measures them. */
async function rootMeasuredUsage(config: Config, origin: string): Promise<number | undefined> {
  const receiver = rootReceiver(config)
  if (!receiver || !existsSync(join(storage(config).replicasOf(origin), RECEIVING))) return undefined
  const measured = await run(rootCommand(receiver, origin, ['measure']))
  return measured.ok ? Number(measured.stdout.trim()) : undefined
}

const usageFile = (config: Config) => join(state(config).dir, 'space.json')
const measuringMark = (config: Config) => join(state(config).dir, 'space.measuring')

/** The complete replicas held here: what the cached measurement is of. */
function replicaSetKey(replicas: string, origins: string[]): string {
  return origins.map((origin) => `${origin}:${listSnapshots(join(replicas, origin)).join(',')}`).join(' ')
}

const originsIn = (replicas: string) => readdirSync(replicas).filter((name) => !name.startsWith('.')).sort()

/** Where the last measurement took longer than this, status does not wait for the next one. */
const INLINE_LIMIT_S = 3
/** A measurement older than this died without removing its mark. */
const MEASURE_STALE_MS = 6 * 3600_000

/**
 * What the replicas held here use, per origin, measured again whenever the set of replicas
 * changed: `finalize` starts that measurement in a process of its own (`serve --measure-space`),
 * so the next status usually finds it done. A status that does not waits for it, unless the
 * last measurement took over 3 s: on a big node (150,000 files times every retained replica) it
 * takes from seconds to minutes, so there status answers with the last measurement at once.
 */
async function replicaUsage(config: Config): Promise<Record<string, number>> {
  const { replicas } = storage(config)
  if (!existsSync(replicas)) return {}
  const key = replicaSetKey(replicas, originsIn(replicas))
  const cached = readJsonFile<UsageCache>(usageFile(config))
  if (cached?.key === key) return cached.origins
  if (cached && (cached.seconds ?? 0) > INLINE_LIMIT_S) {
    measureInBackground(config)
    return cached.origins
  }
  await measurementDone(config)
  const waited = readJsonFile<UsageCache>(usageFile(config))
  if (waited?.key === key) return waited.origins
  return (await measureReplicaUsage(config)) ?? waited?.origins ?? cached?.origins ?? {}
}

/** Waits while a quick measurement someone else started runs, as long as ten of them should take. */
async function measurementDone(config: Config): Promise<void> {
  const until = Date.now() + INLINE_LIMIT_S * 10_000
  while (measurementRunning(measuringMark(config)) && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 100))
}

/** A measurement is under way while its mark is younger than MEASURE_STALE_MS. */
function measurementRunning(mark: string): boolean {
  try {
    return Date.now() - statSync(mark).mtimeMs < MEASURE_STALE_MS
  } catch {
    return false
  }
}

/** At idle priority: it walks every replica, maybe while a sender is transferring to this disk. */
export function measureInBackground(config: Config): void {
  if (measurementRunning(measuringMark(config))) return
  const measure = ['ionice', '-c', '3', 'nice', '-n', '19', FAMLAB_BIN, 'serve', '--measure-space', '--config', config.file]
  spawn(measure[0], measure.slice(1), { detached: true, stdio: 'ignore' }).unref()
}

/**
 * `serve --measure-space`: measures what the replicas use and caches it; one at a time. Returns
 * the measurement, or undefined when another one was already running.
 */
export async function measureReplicaUsage(config: Config): Promise<Record<string, number> | undefined> {
  const { replicas } = storage(config)
  if (!existsSync(replicas)) return {}
  const mark = measuringMark(config)
  if (!measurementRunning(mark)) rmSync(mark, { force: true })
  try {
    writeFileSync(mark, `${process.pid}\n`, { flag: 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined
    throw err
  }
  try {
    const started = performance.now()
    const origins = originsIn(replicas)
    const key = replicaSetKey(replicas, origins)
    const measured: Record<string, number> = {}
    if (origins.length > 0 && isBtrfs(replicas)) {
      // Replicas received as btrfs snapshots share extents, which du would count once per snapshot;
      // btrfs sees only extents on disk, so data still in the page cache is flushed first (syncfs).
      await runChecked(['sync', '--file-system', replicas])
      for (const origin of origins) measured[origin] = await rootMeasuredUsage(config, origin) ?? await originUsage(join(replicas, origin))
    } else if (origins.length > 0) {
      const du = await runChecked(['du', '--summarize', '--block-size=1', '--one-file-system', ...origins], { cwd: replicas })
      for (const line of du.trim().split('\n')) {
        const [bytes, origin] = line.split('\t')
        measured[origin] = Number(bytes)
      }
    }
    const seconds = (performance.now() - started) / 1000
    writeStateFile(config, usageFile(config), `${JSON.stringify({ key, origins: measured, seconds })}\n`)
    return measured
  } finally {
    rmSync(mark, { force: true })
  }
}

export async function peerSpace(config: Config): Promise<PeerSpace | undefined> {
  const disk = readDisk(config.root)
  if (!disk) return undefined
  const origins = await replicaUsage(config)
  const used = Object.values(origins).reduce((sum, bytes) => sum + bytes, 0)
  const offered = offeredBytes(config, disk)
  return { ...disk, offered_bytes: offered, used_bytes: used, room_bytes: roomForPeers(offered, used, disk.free_bytes), origins }
}

/**
 * Bytes a transfer of `snapshotDir` will add on a peer whose newest copy of us is `basisDir`
 * (both local snapshots): files unchanged in size and time become hard links there, every
 * other file is written whole. Allocated blocks, so sparse bands count as what they hold.
 */
export function estimateTransferBytes(snapshotDir: string, basisDir: string | undefined): number {
  let total = 0
  const seen = new Set<number>()
  const walk = (rel: string) => {
    for (const entry of readdirSync(join(snapshotDir, rel), { withFileTypes: true })) {
      const path = join(rel, entry.name)
      const stat = lstatSync(join(snapshotDir, path))
      if (entry.isDirectory()) {
        total += stat.blocks * BLOCK
        walk(path)
        continue
      }
      if (basisDir && entry.isFile()) {
        try {
          const before = lstatSync(join(basisDir, path))
          if (before.size === stat.size && before.mtimeMs === stat.mtimeMs) continue
        } catch {
          // new file
        }
      }
      if (stat.nlink > 1) {
        if (seen.has(stat.ino)) continue
        seen.add(stat.ino)
      }
      total += stat.blocks * BLOCK
    }
  }
  walk('')
  return total
}

/** Snapshots are read-only, so one walk per pair serves every peer of a run. */
const estimates = new Map<string, number>()
function cachedEstimate(snapshotDir: string, basisDir: string | undefined): number {
  const key = `${snapshotDir}\0${basisDir ?? ''}`
  if (!estimates.has(key)) estimates.set(key, estimateTransferBytes(snapshotDir, basisDir))
  return estimates.get(key)!
}

/** What sending our snapshot `snap` adds on a holder, from the replicas of us it already has. */
export function bytesToSend(config: Config, snap: string, holder: HolderStatus): number {
  const paths = storage(config)
  // The holder links against its newest complete replica of us; if we still have that snapshot, so can the estimate.
  const basis = [...holder.replicas].reverse().find((name) => existsSync(paths.snapshot(name)))
  return cachedEstimate(paths.snapshot(snap), basis && paths.snapshot(basis))
}

/**
 * More than sending `snap` can add on any holder, known without walking the tree: a snapshot
 * cannot need more than its whole filesystem uses (reflinked and compressed files aside).
 */
export function sendBound(config: Config, snap: string): number {
  const disk = readDisk(storage(config).snapshot(snap))
  return disk ? disk.total_bytes - disk.free_bytes : Infinity
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`

/** Why `snap` does not fit on a holder (a storage_full alert), or undefined when it does. */
export function roomProblem(config: Config, snap: string, holder: HolderStatus): string | undefined {
  const space = holder.space
  if (!space) return undefined
  if (sendBound(config, snap) <= space.room_bytes) return undefined
  const needed = bytesToSend(config, snap, holder)
  if (needed <= space.room_bytes) return undefined
  return `storage_full: ${snap} needs about ${mib(needed)}, ${holder.node} has ${mib(space.room_bytes)} left for the family ` +
    `(offers ${mib(space.offered_bytes)}, replicas use ${mib(space.used_bytes)}, ${mib(space.free_bytes)} free on disk); nothing was sent`
}
