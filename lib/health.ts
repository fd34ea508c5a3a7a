// A node's health as it tells the family (inside `serve status`) and itself (in `report`):
// disk size and free space, the replicas it holds of each origin and what they use, its own
// newest snapshot and last backup. Reading it is cheap; measuring usage (du) is done by
// `report` and cached in <state>/usage.json, because du over a large tree takes minutes.
import { readdirSync, statfsSync } from 'node:fs'
import { join } from 'node:path'
import { isSubvolume } from './btrfs.ts'
import type { Config } from './config.ts'
import type { Context } from './context.ts'
import { run } from './exec.ts'
import { storage } from './paths.ts'
import { listSnapshots } from './snapshots.ts'
import { readJsonFile, writeStateFile } from './state.ts'
import type { BackupStatus, NodeStatus } from './status.ts'

export type OriginHolding = {
  newest: string | null
  count: number
  /** Disk use of replicas/<origin>, hard links counted once; null until measured. */
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
  usage_measured_at: string | null
  last_backup: BackupStatus | null
  last_success: string | null
}

type UsageFile = { measured_at: string; origins: Record<string, number> }

/** How long a du measurement stays good enough; report runs hourly. */
const USAGE_MAX_AGE_MS = 3 * 3600_000
/** du over a slow disk must not hold report forever. */
const DU_TIMEOUT_MS = 30 * 60_000

const usageFile = (config: Config) => join(config.state, 'usage.json')

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

/** Cheap enough for every `serve status`: statfs, directory listings and two small state files. */
export function readNodeHealth(config: Config): NodeHealth {
  const paths = storage(config)
  const fs = statfsSync(paths.root)
  const usage = readJsonFile<UsageFile>(usageFile(config))
  const status = readJsonFile<NodeStatus>(join(config.state, 'status.json'))
  const held: Record<string, OriginHolding> = {}
  for (const origin of origins(config)) {
    const snaps = readable(() => listSnapshots(paths.replicasOf(origin)), [])
    held[origin] = { newest: snaps.at(-1) ?? null, count: snaps.length, bytes: usage?.origins[origin] ?? null }
  }
  return {
    node: config.node,
    total_bytes: fs.blocks * fs.bsize,
    free_bytes: fs.bavail * fs.bsize,
    local_fraction: config.capacity.local_fraction,
    takes_backups: isSubvolume(paths.local),
    newest_snapshot: readable(() => listSnapshots(paths.snapshots).at(-1) ?? null, null),
    origins: held,
    usage_measured_at: usage?.measured_at ?? null,
    last_backup: status?.last_backup ?? null,
    last_success: status?.last_success ?? null,
  }
}

/** Re-measures what each origin's replicas use when the cached numbers are old. */
export async function refreshUsage(ctx: Context, force = false): Promise<void> {
  const now = ctx.clock.now().getTime()
  const cached = readJsonFile<UsageFile>(usageFile(ctx.config))
  const age = cached ? now - Date.parse(cached.measured_at) : Infinity
  if (!force && age >= 0 && age < USAGE_MAX_AGE_MS) return
  const measured: Record<string, number> = {}
  for (const origin of origins(ctx.config)) {
    const du = await run(['du', '-s', '-x', '-B1', '--', storage(ctx.config).replicasOf(origin)], { timeoutMs: DU_TIMEOUT_MS })
    const bytes = Number(du.stdout.split('\t')[0])
    if (du.ok && Number.isFinite(bytes)) measured[origin] = bytes
    else ctx.log.warn('report', `could not measure replicas/${origin}: ${du.stderr.trim().split('\n').at(-1)}`)
  }
  const usage: UsageFile = { measured_at: new Date(now).toISOString(), origins: measured }
  writeStateFile(ctx.config, usageFile(ctx.config), `${JSON.stringify(usage)}\n`)
}
