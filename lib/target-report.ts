// Bare targets in `report`, like peers: reached or when last seen, the newest complete copy of
// this node there and its size, the target's disk; alerts peer_offline, backup_stale and
// storage_full for a target. Gathering does I/O; the report and its alerts are pure.
import { carrySince, usedPercent, type Alert, type AlertState, type Thresholds } from './alerts.ts'
import { parseSnapshotName } from './clock.ts'
import type { Context } from './context.ts'
import type { FamilyReport } from './family-report.ts'
import { fit, formatAge, formatBytes, formatDuration, hoursBetween } from './format.ts'
import { storage } from './paths.ts'
import { newestSnapshot } from './snapshots.ts'
import { observeTarget, readTargetsSeen, type TargetSeen } from './target-status.ts'
import { loadTargets, targetDir, type Target } from './targets.ts'

/** A target that does not answer within this is reported unreachable (like a peer's probe). */
const PROBE_TIMEOUT_MS = 20_000

export type TargetReport = {
  name: string
  /** user@host:port:directory of this node's snapshots. */
  address: string
  reachable: boolean
  last_seen: string | null
  problem: string | null
  /** The newest complete snapshot of this node there, as the target last said. */
  newest: string | null
  age_hours: number | null
  count: number
  /** Apparent size and files of that snapshot (what a restore brings back). */
  newest_bytes: number | null
  newest_files: number | null
  total_bytes: number | null
  free_bytes: number | null
  /** When the target said this (one that does not answer now: when it last did). */
  as_of: string | null
}

export type TargetFacts = { target: Target; address: string; reachable: boolean; problem: string | null; seen: TargetSeen | null }

export async function gatherTargetFacts(ctx: Context): Promise<TargetFacts[]> {
  const seenBefore = readTargetsSeen(ctx)
  return Promise.all(loadTargets(ctx.config).map(async (target): Promise<TargetFacts> => {
    const address = `${target.user}@${target.host}:${target.port}:${targetDir(ctx.config, target)}`
    const observed = await observeTarget(ctx, target, PROBE_TIMEOUT_MS)
    if (observed.ok) return { target, address, reachable: true, problem: null, seen: observed.seen }
    return { target, address, reachable: false, problem: `${observed.outcome}: ${observed.message}`, seen: seenBefore[target.name] ?? null }
  }))
}

export function buildTargetReport(facts: TargetFacts, now: Date): TargetReport {
  const holding = facts.seen?.holding
  const newest = holding?.snapshots.at(-1) ?? null
  const time = newest ? parseSnapshotName(newest) : undefined
  return {
    name: facts.target.name,
    address: facts.address,
    reachable: facts.reachable,
    last_seen: facts.seen?.last_seen ?? null,
    problem: facts.problem,
    newest,
    age_hours: time ? Math.round(hoursBetween(time, now) * 10) / 10 : null,
    count: holding?.snapshots.length ?? 0,
    newest_bytes: facts.seen?.newest_size?.bytes ?? null,
    newest_files: facts.seen?.newest_size?.files ?? null,
    total_bytes: holding?.total_bytes ?? null,
    free_bytes: holding?.free_bytes ?? null,
    as_of: facts.seen?.last_seen ?? null,
  }
}

/**
 * A target's alerts, named after the target: not reached for offline_hours (counted from when it
 * was added if never), no complete copy newer than stale_hours while this node takes snapshots,
 * its disk storage_full_percent full.
 */
export function targetAlerts(report: TargetReport, added: string, origin: string, takesSnapshots: boolean, limits: Thresholds, now: Date): Alert[] {
  const alerts: Alert[] = []
  const name = report.name
  if (!report.reachable) {
    const since = report.last_seen ?? added
    if (hoursBetween(since, now) > limits.offline_hours) {
      alerts.push({ kind: 'peer_offline', node: name, message: `target ${name} has not been reached for ${formatAge(since, now)}${report.last_seen ? '' : ' (never since it was added)'}: ${report.problem}`, since })
    }
  }
  if (takesSnapshots) {
    const since = (report.newest && parseSnapshotName(report.newest)?.toISOString()) || added
    if (hoursBetween(since, now) > limits.stale_hours) {
      const what = report.newest ? `the newest complete copy of ${origin} on target ${name} is ${formatAge(since, now)} old (${report.newest})` : `target ${name} holds no complete copy of ${origin} yet`
      alerts.push({ kind: 'backup_stale', node: name, message: what, since })
    }
  }
  if (report.total_bytes !== null && report.free_bytes !== null) {
    const used = usedPercent({ total_bytes: report.total_bytes, free_bytes: report.free_bytes })
    if (used >= limits.storage_full_percent) {
      alerts.push({ kind: 'storage_full', node: name, message: `target ${name}'s disk is ${Math.floor(used)}% full (${formatBytes(report.free_bytes)} free; alert at ${limits.storage_full_percent}%)`, since: report.as_of ?? now.toISOString() })
    }
  }
  return alerts
}

/** Adds `targets` and their alerts to a report (fields are only ever added). */
export async function addTargets<R extends FamilyReport>(ctx: Context, report: R, previous: AlertState = {}): Promise<R & { targets: TargetReport[] }> {
  const now = ctx.clock.now()
  const facts = await gatherTargetFacts(ctx)
  const targets = facts.map((f) => buildTargetReport(f, now))
  const takesSnapshots = newestSnapshot(storage(ctx.config).snapshots) !== undefined
  const raised = facts.flatMap((f, i) => targetAlerts(targets[i], f.target.added, ctx.config.node, takesSnapshots, ctx.config.alerts, now))
  return { ...report, alerts: [...report.alerts, ...carrySince(raised, previous)], targets }
}

export function renderTargets(report: { targets: TargetReport[]; time: string }): string {
  if (report.targets.length === 0) return ''
  const now = new Date(report.time)
  const cell = (text: string, width: number) => fit(text, width).padEnd(width)
  const lines = ['', `${cell('TARGET', 11)} ${cell('REACHED', 9)} ${cell('NEWEST COPY (AGE)', 24)} ${cell('COPIES', 6)} ${cell('SIZE', 5)} ${cell('DISK', 5)} FREE`]
  for (const t of report.targets) {
    const reached = t.reachable ? 'yes' : t.last_seen ? `no, ${formatAge(t.last_seen, now)}` : 'never'
    const newest = t.newest ? `${t.newest} (${t.age_hours === null ? '?' : formatDuration(t.age_hours * 3_600_000)})` : '-'
    lines.push(fit(`${cell(t.name, 11)} ${cell(reached, 9)} ${cell(newest, 24)} ${cell(String(t.count), 6)} ${cell(formatBytes(t.newest_bytes), 5)} ${cell(formatBytes(t.total_bytes), 5)} ${formatBytes(t.free_bytes)}`, 80).trimEnd())
    lines.push(fit(`  ${t.address}${t.problem ? `: ${t.problem}` : ''}`, 80))
  }
  return `${lines.join('\n')}\n`
}

/** node_exporter textfile metrics for the targets, in the same format as report's own. */
export function renderTargetMetrics(report: { targets: TargetReport[]; node: string }): string {
  if (report.targets.length === 0) return ''
  const lines: string[] = []
  const gauge = (name: string, help: string, value: (t: TargetReport) => number | null | undefined) => {
    lines.push(`# HELP famlab_target_${name} ${help}`, `# TYPE famlab_target_${name} gauge`)
    for (const t of report.targets) {
      const v = value(t)
      if (v !== null && v !== undefined && Number.isFinite(v)) lines.push(`famlab_target_${name}{target="${t.name}",origin="${report.node}"} ${v}`)
    }
  }
  const seconds = (iso: string | null) => (iso ? Date.parse(iso) / 1000 : null)
  gauge('up', 'Whether the bare target answered this report (1) or not (0).', (t) => (t.reachable ? 1 : 0))
  gauge('last_seen_timestamp_seconds', 'When the bare target last answered.', (t) => seconds(t.last_seen))
  gauge('newest_copy_timestamp_seconds', 'Time of the newest complete copy of this node on the target.', (t) => (t.newest ? parseSnapshotName(t.newest)!.getTime() / 1000 : null))
  gauge('copies', 'Complete snapshots of this node on the target.', (t) => t.count)
  gauge('newest_copy_bytes', 'Apparent size of the newest complete copy on the target.', (t) => t.newest_bytes)
  gauge('filesystem_size_bytes', 'Size of the target\'s filesystem holding the copies.', (t) => t.total_bytes)
  gauge('filesystem_free_bytes', 'Free space on the target\'s filesystem holding the copies.', (t) => t.free_bytes)
  return `${lines.join('\n')}\n`
}
