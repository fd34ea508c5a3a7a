// The status questions, answered for this node from what it knows without asking anyone:
// its history, the member list, its own disk. `report` adds what the peers say.
import { readdirSync } from 'node:fs'
import {
  allowance, allowanceRefusalAlert, copiesFromHistory, copiesState, diskErrorsAlert, forecastFull, formatBytes,
  replicationFactorAlert, scrubIntegrityAlert, storageForecastAlert, usageSamples, type Alert, type Allowance, type CopiesState,
} from './agreement.ts'
import type { Context } from './context.ts'
import { placementFor } from './copies.ts'
import { checkDeviceStats } from './disk-health.ts'
import { readHistory } from './history.ts'
import { findMember, peersOf, type Membership } from './members.ts'
import { state, storage } from './paths.ts'
import { lastSeen, wantedCopies } from './placement.ts'
import { listSnapshots } from './snapshots.ts'
import { diskUsage } from './space.ts'

export type StatusAnswers = {
  node: string
  /** Is everything backed up, and if not since when. */
  backed_up: boolean
  copies: CopiesState & { placed_on: string[]; newest_snapshot: string | null }
  /** The newest replica of this node on each peer (by this node's own runs), and its size there when known. */
  on_peers: { peer: string; newest: string | null; bytes: number | null }[]
  /** The space this node gives the family, and who uses it. */
  contributed: { offered_bytes: number | null; used_bytes: number; by_origin: Record<string, number> }
  /** How much more this node may back up under the agreement (S / k). */
  allowance: Allowance
  members: { name: string; self: boolean; joined: string; last_seen: string | null }[]
  forecast: { days_to_full: number; bytes_per_day: number; full_at: string } | null
}

/** Replicas held here, by origin: du per origin directory. */
async function heldByOrigin(ctx: Context): Promise<Record<string, number>> {
  const replicas = storage(ctx.config).replicas
  const origins = (() => {
    try {
      return readdirSync(replicas).filter((n) => !n.startsWith('.')).sort()
    } catch {
      return []
    }
  })()
  const held: Record<string, number> = {}
  for (const origin of origins) held[origin] = await diskUsage(storage(ctx.config).replicasOf(origin))
  return held
}

export async function answerStatus(ctx: Context, membership: Membership, holderBytes: Record<string, number | null> = {}): Promise<StatusAnswers> {
  const { config } = ctx
  const history = readHistory(state(config).history)
  const now = ctx.clock.now()
  const self = findMember(membership, config.node)
  const peers = peersOf(membership, config.node)
  const wanted = wantedCopies(config.family.copies, peers.length)
  const snapshots = listSnapshots(storage(config).snapshots)
  const newestHeld = copiesFromHistory(history, config.node)
  const copies = copiesState(snapshots, peers.map((p) => newestHeld[p.name]), wanted, self?.joined ?? now.toISOString())
  const byOrigin = await heldByOrigin(ctx)
  const newest = snapshots.at(-1)
  // Use: what the replicas take on the fullest holder, as holders say; before any has said, a full copy.
  const measured = Object.values(holderBytes).filter((b): b is number => b !== null)
  const used = measured.length > 0 ? Math.max(...measured) : newest ? await diskUsage(storage(config).snapshot(newest)) : 0
  const forecast = forecastFull(usageSamples(history), now)
  return {
    node: config.node,
    backed_up: copies.behind_since === null,
    copies: { ...copies, placed_on: placementFor(ctx, membership).holders, newest_snapshot: newest ?? null },
    on_peers: peers.map((p) => ({ peer: p.name, newest: newestHeld[p.name] ?? null, bytes: holderBytes[p.name] ?? null })),
    contributed: { offered_bytes: self?.offered_bytes ?? null, used_bytes: Object.values(byOrigin).reduce((a, b) => a + b, 0), by_origin: byOrigin },
    allowance: allowance(self?.offered_bytes, wanted, used),
    members: membership.members.map((m) => ({
      name: m.name, self: m.name === config.node, joined: m.joined,
      last_seen: m.name === config.node ? now.toISOString() : lastSeen(history, m.name) ?? null,
    })),
    forecast: forecast ?? null,
  }
}

/** replication_factor, storage_forecast, disk_errors, a failed scrub (integrity) and a refusal over the allowance (storage_full) for this node. */
export async function agreementAlerts(ctx: Context, answers: StatusAnswers): Promise<Alert[]> {
  const now = ctx.clock.now()
  const history = readHistory(state(ctx.config).history)
  const alerts = [
    replicationFactorAlert(ctx.config.node, answers.copies, now, ctx.config.alerts.stale_hours),
    storageForecastAlert(ctx.config.node, answers.forecast ?? undefined, now, ctx.config.alerts.warn_days),
    scrubIntegrityAlert(ctx.config.node, history),
    allowanceRefusalAlert(ctx.config.node, history),
  ]
  const deviceErrors = await checkDeviceStats(ctx)
  if (deviceErrors) alerts.push(diskErrorsAlert(ctx.config.node, deviceErrors, now))
  return alerts.filter((a): a is Alert => a !== undefined)
}

/** The answers in a few lines for people, each under 80 columns. */
export function renderAnswers(a: StatusAnswers, now: Date): string {
  const ago = (iso: string | null) => {
    if (!iso) return 'never seen'
    const hours = (now.getTime() - Date.parse(iso)) / 3600_000
    return `seen ${hours < 1 ? `${Math.max(0, Math.round(hours * 60))}m` : hours < 48 ? `${Math.round(hours)}h` : `${Math.round(hours / 24)}d`} ago`
  }
  const size = (b: number | null) => (b === null ? '?' : formatBytes(b))
  const when = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')} UTC`
  const fit = (line: string) => (line.length <= 80 ? line : `${line.slice(0, 79)}…`)
  const { copies, allowance: allowed } = a
  const origins = Object.entries(a.contributed.by_origin).map(([o, b]) => `${o} ${size(b)}`).join(', ')
  const lines = [
    a.backed_up
      ? `${a.node}: everything is backed up (${copies.copies_of_newest} of ${copies.wanted} copies of the newest)`
      : `${a.node}: NOT backed up since ${when(copies.behind_since!)} (${copies.copies_of_newest} of ${copies.wanted} copies of the newest)`,
    `  copies go to: ${copies.placed_on.join(', ') || 'nobody'}`,
    ...a.on_peers.map((p) => `  on ${p.peer}: ${p.newest ?? 'nothing yet'}${p.bytes === null ? '' : `, ${size(p.bytes)}`}`),
    `  given to the family: ${size(a.contributed.offered_bytes)}, used ${size(a.contributed.used_bytes)}${origins ? `: ${origins}` : ''}`,
    allowed.allowance_bytes === null ? '  may back up: unknown (this node announced no offered space)'
      : `  may back up (S / k): ${size(allowed.allowance_bytes)}; uses ${size(allowed.used_bytes)}; ${(allowed.remaining_bytes ?? 0) >= 0 ? `${size(allowed.remaining_bytes)} more allowed` : `OVER by ${size(-(allowed.remaining_bytes ?? 0))}`}`,
    `  members: ${a.members.map((m) => `${m.name} ${m.self ? '(here)' : ago(m.last_seen)}`).join(', ')}`,
  ]
  if (a.forecast) lines.push(`  disk trend: +${formatBytes(a.forecast.bytes_per_day)} a day, full in about ${Math.ceil(a.forecast.days_to_full)} days`)
  return `${lines.map(fit).join('\n')}\n`
}
