// A node's health as it tells the family (inside `serve status`) and itself (in `report`):
// disk size and free space, the replicas it holds of each origin, its own newest snapshot and
// last backup. Reading it is cheap; what each origin's replicas use comes from the capacity
// agreement's measurement (lib/space.ts, `space` in the same status reply).
import { readdirSync, statfsSync } from 'node:fs'
import { isSubvolume } from './btrfs.ts'
import type { Config } from './config.ts'
import type { DiskReport } from './disk-health.ts'
import { state, storage } from './paths.ts'
import { listSnapshots } from './snapshots.ts'
import type { PeerSpace } from './space.ts'
import { readJsonFile } from './state.ts'
import type { BackupStatus, NodeStatus } from './status.ts'

export type OriginHolding = {
  newest: string | null
  count: number
  /** Disk use of replicas/<origin>, hard links counted once; null when not measured. */
  bytes: number | null
}

export type NodeHealth = {
  node: string
  total_bytes: number
  free_bytes: number
  local_fraction: number
  /** false for a node that only keeps the others' replicas (no local/ subvolume). */
  takes_backups: boolean
  newest_snapshot: string | null
  origins: Record<string, OriginHolding>
  last_backup: BackupStatus | null
  last_success: string | null
  /** Usage trend and disk error counters (added by serve status; absent from older peers). */
  disk?: DiskReport
}

const origins = (config: Config): string[] =>
  readable(() => readdirSync(storage(config).replicas).filter((name) => !name.startsWith('.')).sort(), [])

/** serve runs as ssh.user, which may not read root's snapshots/. */
function readable<T>(read: () => T, otherwise: T): T {
  try {
    return read()
  } catch {
    return otherwise
  }
}

/** Cheap enough for every `serve status`: statfs, directory listings and status.json. */
export function readNodeHealth(config: Config): NodeHealth {
  const paths = storage(config)
  const fs = statfsSync(paths.root)
  const status = readJsonFile<NodeStatus>(state(config).status)
  const held: Record<string, OriginHolding> = {}
  for (const origin of origins(config)) {
    const snaps = readable(() => listSnapshots(paths.replicasOf(origin)), [])
    held[origin] = { newest: snaps.at(-1) ?? null, count: snaps.length, bytes: null }
  }
  return {
    node: config.node,
    total_bytes: fs.blocks * fs.bsize,
    free_bytes: fs.bavail * fs.bsize,
    local_fraction: config.capacity.local_fraction,
    takes_backups: isSubvolume(paths.local),
    newest_snapshot: readable(() => listSnapshots(paths.snapshots).at(-1) ?? null, null),
    origins: held,
    last_backup: status?.last_backup ?? null,
    last_success: status?.last_success ?? null,
  }
}

/** Adds what each origin's replicas use, as the holder measured it for the capacity agreement. */
export function withUsage(health: NodeHealth, space: PeerSpace | undefined): NodeHealth {
  if (!space) return health
  const origins = Object.fromEntries(Object.entries(health.origins).map(([origin, held]) => [origin, { ...held, bytes: space.origins[origin] ?? null }]))
  return { ...health, origins }
}
