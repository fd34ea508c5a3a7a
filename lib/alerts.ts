// Alerts (CONTRACT: Alerts): pure decisions from what report gathered, and which of them to
// mail now — one mail when an alert appears, a reminder each day while it stays.
import { parseSnapshotName } from './clock.ts'
import type { Config } from './config.ts'
import { formatAge, formatBytes, hoursBetween } from './format.ts'
import type { NodeHealth } from './health.ts'

export const ALERT_KINDS = [
  'peer_offline', 'backup_stale', 'storage_full', 'backup_failed', 'integrity', 'recovery_needed',
  // The family agreement's warnings before failures (lib/agreement.ts).
  'replication_factor', 'storage_forecast', 'disk_errors',
] as const
export type AlertKind = (typeof ALERT_KINDS)[number]

export type Alert = { kind: AlertKind; node: string; message: string; since: string }

export type MemberFacts = {
  name: string
  joined: string
  self: boolean
  reachable: boolean
  last_seen: string | null
  /** Why the member did not answer now (offline, refused: …). */
  problem: string | null
  /** Fresh when the member answered now, else the last one it gave; null if never heard. */
  health: NodeHealth | null
  health_time: string | null
}

export type FamilyFacts = {
  /** The node report runs on. */
  node: string
  now: string
  members: MemberFacts[]
  /** The latest verify of each peer, when it found a difference. */
  integrity: { peer?: string; time: string; message: string }[]
  /** Set by the recovery guard while it refuses backups (status.json). */
  recovery_needed?: { since: string; message: string } | null
  /** local/ holds nothing at all. */
  local_empty: boolean
}

export type Thresholds = Config['alerts']

const validTime = (text: string | null | undefined): string | undefined =>
  text && Number.isFinite(Date.parse(text)) ? new Date(text).toISOString() : undefined

/** The newest complete copy of `origin` that any other member holds, by what each last said. */
export function newestCopy(facts: FamilyFacts, origin: string): string | undefined {
  const names = facts.members
    .filter((m) => m.name !== origin)
    .map((m) => m.health?.origins[origin]?.newest)
    .filter((n): n is string => Boolean(n))
  return names.sort().at(-1)
}

export function usedPercent(health: Pick<NodeHealth, 'total_bytes' | 'free_bytes'>): number {
  return health.total_bytes > 0 ? (100 * (health.total_bytes - health.free_bytes)) / health.total_bytes : 0
}

export function evaluateAlerts(facts: FamilyFacts, limits: Thresholds): Alert[] {
  const now = new Date(facts.now)
  const alerts: Alert[] = []
  const raise = (kind: AlertKind, node: string, message: string, since: string) => {
    if (!alerts.some((a) => a.kind === kind && a.node === node)) alerts.push({ kind, node, message, since })
  }
  const self = facts.members.find((m) => m.self)
  const lastBackup = self?.health?.last_backup ?? null

  for (const m of facts.members.filter((m) => !m.self && !m.reachable)) {
    const since = validTime(m.last_seen) ?? validTime(m.joined) ?? facts.now
    if (hoursBetween(since, now) > limits.offline_hours) {
      raise('peer_offline', m.name, `${m.name} has not been reached for ${formatAge(since, now)}${m.last_seen ? '' : ' (never since it joined)'}`, since)
    }
  }

  for (const m of facts.members.filter((m) => m.health?.takes_backups !== false)) {
    const newest = newestCopy(facts, m.name)
    const since = (newest && parseSnapshotName(newest)?.toISOString()) || validTime(m.joined) || facts.now
    if (hoursBetween(since, now) > limits.stale_hours) {
      const what = newest ? `the newest complete copy of ${m.name} is ${formatAge(since, now)} old (${newest})` : `no peer holds a complete copy of ${m.name} yet`
      raise('backup_stale', m.name, what, since)
    }
  }

  for (const peer of lastBackup?.peers.filter((p) => p.result === 'no-space') ?? []) {
    raise('storage_full', peer.peer, `${peer.peer} lacks room for the next transfer: ${peer.message.replace(/^storage_full: /, '')}`, lastBackup!.time)
  }
  for (const m of facts.members.filter((m) => m.health)) {
    const used = usedPercent(m.health!)
    if (used >= limits.storage_full_percent) {
      raise('storage_full', m.name, `${m.name}'s disk is ${Math.floor(used)}% full (${formatBytes(m.health!.free_bytes)} free; alert at ${limits.storage_full_percent}%)`, m.health_time ?? facts.now)
    }
  }

  if (lastBackup?.result === 'failed') {
    raise(lastBackup.reason === 'recovery_needed' ? 'recovery_needed' : 'backup_failed', facts.node, `the last backup of ${facts.node} failed: ${lastBackup.message}`, lastBackup.time)
  }
  for (const found of facts.integrity) {
    raise('integrity', found.peer ?? facts.node, `verify found a difference${found.peer ? ` in ${found.peer}'s copy` : ''}: ${found.message}`, found.time)
  }
  if (facts.recovery_needed) raise('recovery_needed', facts.node, facts.recovery_needed.message, facts.recovery_needed.since)
  if (facts.local_empty && self?.health?.takes_backups && newestCopy(facts, facts.node)) {
    raise('recovery_needed', facts.node, `${facts.node}'s local data is empty while peers hold its backups: restore it (famlab restore) before the next backup`, facts.now)
  }
  return alerts
}

/** What report remembers per alert in <state>/alerts.json. */
export type AlertState = Record<string, { since: string; mailed_at?: string }>

export const alertKey = (alert: Pick<Alert, 'kind' | 'node'>) => `${alert.kind}:${alert.node}`

export const REMINDER_HOURS = 24

/** An alert that stays keeps the earliest `since` anyone saw for it. */
export function carrySince(alerts: Alert[], previous: AlertState): Alert[] {
  return alerts.map((a) => {
    const before = previous[alertKey(a)]?.since
    return before && before < a.since ? { ...a, since: before } : a
  })
}

/** New alerts get a mail now; ones that stay get a reminder once a day. */
export type AlertMail = { alert: Alert; reminder: boolean }

export function alertsToMail(alerts: Alert[], previous: AlertState, now: Date): AlertMail[] {
  return alerts.flatMap((alert): AlertMail[] => {
    const mailed = previous[alertKey(alert)]?.mailed_at
    if (!mailed) return [{ alert, reminder: false }]
    return hoursBetween(mailed, now) >= REMINDER_HOURS ? [{ alert, reminder: true }] : []
  })
}

/** The state to keep: current alerts only (a cleared one that returns is new again). */
export function nextAlertState(alerts: Alert[], previous: AlertState, mailedNow: Set<string>, now: Date): AlertState {
  const next: AlertState = {}
  for (const a of alerts) {
    const key = alertKey(a)
    const mailed = mailedNow.has(key) ? now.toISOString() : previous[key]?.mailed_at
    next[key] = { since: a.since, ...(mailed ? { mailed_at: mailed } : {}) }
  }
  return next
}
