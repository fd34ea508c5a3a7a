// The family agreement as the admin sees it: the status questions (is everything backed up,
// what my backup takes, who uses the space I give, how much more I may back up) and the
// warnings that come before failures. Pure: data in, answers and alerts out.
import { parseSnapshotName } from './clock.ts'
import type { Alert } from './alerts.ts'
import type { HistoryEntry } from './history.ts'

export type { Alert }

const HOUR = 3600_000
const DAY = 24 * HOUR

const snapTime = (name: string) => parseSnapshotName(name)?.toISOString()

/** Byte counts for people: 1.5 GiB. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let value = bytes
  let unit = 0
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}

// Copies

/** The newest complete replica each peer holds of this node, by what our own runs recorded. */
export function copiesFromHistory(history: HistoryEntry[], self: string): Record<string, string> {
  const newest: Record<string, string> = {}
  for (const e of history) {
    if (e.node !== self || e.step !== 'replicate' || !e.peer || !e.snapshot) continue
    if (e.result !== 'ok' && e.result !== 'up-to-date') continue
    if (!newest[e.peer] || e.snapshot > newest[e.peer]) newest[e.peer] = e.snapshot
  }
  return newest
}

export type CopiesState = {
  /** The newest snapshot at least `wanted` peers hold (or something newer). */
  safe_snapshot: string | null
  /** Holders of the origin's newest snapshot. */
  copies_of_newest: number
  wanted: number
  /** When the origin fell below `wanted` copies: the first snapshot after the safe one. */
  behind_since: string | null
}

/**
 * Is everything backed up? `snapshots`: the origin's snapshots that we know of, oldest first;
 * `held`: the newest replica each holder has.
 */
export function copiesState(snapshots: string[], held: (string | null | undefined)[], wanted: number, joined: string): CopiesState {
  const newest = snapshots.at(-1) ?? null
  const ranked = held.filter((h): h is string => Boolean(h)).sort().reverse()
  const safe = wanted === 0 ? newest : ranked[wanted - 1] ?? null
  const copies = newest ? ranked.filter((h) => h >= newest).length : 0
  if (newest === null || (safe !== null && safe >= newest)) return { safe_snapshot: safe, copies_of_newest: copies, wanted, behind_since: null }
  const firstUnsafe = snapshots.find((s) => safe === null || s > safe) ?? newest
  return { safe_snapshot: safe, copies_of_newest: copies, wanted, behind_since: (safe === null ? joined : snapTime(firstUnsafe)) || joined }
}

/** replication_factor: fewer than k complete copies of the newest snapshot for longer than stale_hours. */
export function replicationFactorAlert(node: string, state: CopiesState, now: Date, staleHours: number): Alert | undefined {
  if (!state.behind_since || now.getTime() - Date.parse(state.behind_since) <= staleHours * HOUR) return undefined
  const hours = Math.floor((now.getTime() - Date.parse(state.behind_since)) / HOUR)
  const safe = state.safe_snapshot ? `the newest with ${state.wanted} copies is ${state.safe_snapshot}` : `no snapshot has ${state.wanted} copies yet`
  return {
    kind: 'replication_factor', node, since: state.behind_since,
    message: `${node} has had fewer than ${state.wanted} complete copies of its newest snapshot for ${hours}h (${safe})`,
  }
}

// Space

export type Allowance = {
  offered_bytes: number | null
  copies: number
  /** S / k: what this node may back up under the agreement. */
  allowance_bytes: number | null
  used_bytes: number | null
  /** How much more it may back up; negative when over. */
  remaining_bytes: number | null
}

export function allowance(offered: number | undefined, copies: number, used: number | undefined): Allowance {
  const limit = offered === undefined || copies === 0 ? null : Math.floor(offered / copies)
  return {
    offered_bytes: offered ?? null, copies, allowance_bytes: limit, used_bytes: used ?? null,
    remaining_bytes: limit === null || used === undefined ? null : limit - used,
  }
}

/** storage_full, while the latest replication of this node was refused as over its allowance. */
export function allowanceRefusalAlert(node: string, history: HistoryEntry[]): Alert | undefined {
  const last = history.filter((e) => (e.step === 'agreement' && e.result === 'refused') || (e.step === 'replicate' && e.node === node && e.result === 'ok')).at(-1)
  if (last?.step !== 'agreement') return undefined
  return {
    kind: 'storage_full', node, since: last.time,
    message: `${node} is over its allowance (offered space / copies): ${last.snapshot ?? 'its snapshot'} was not sent`,
  }
}

// Storage forecast

export type UsageSample = { time: string; used_bytes: number; total_bytes: number }

/** Usage samples of this node's disk, as backup records them in history. */
export function usageSamples(history: HistoryEntry[]): UsageSample[] {
  return history
    .filter((e) => e.step === 'usage' && typeof e.bytes === 'number' && typeof e.total_bytes === 'number')
    .map((e) => ({ time: e.time, used_bytes: e.bytes!, total_bytes: e.total_bytes! }))
}

export type Forecast = { days_to_full: number; bytes_per_day: number; full_at: string }

/** The trend over the last `windowDays` (least squares); undefined when flat, shrinking or too little data. */
export function forecastFull(samples: UsageSample[], now: Date, windowDays = 30): Forecast | undefined {
  const recent = samples.filter((s) => {
    const age = now.getTime() - Date.parse(s.time)
    return age >= 0 && age <= windowDays * DAY
  })
  if (recent.length < 3) return undefined
  const xs = recent.map((s) => Date.parse(s.time) / DAY)
  if (Math.max(...xs) - Math.min(...xs) < 1) return undefined
  const ys = recent.map((s) => s.used_bytes)
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length
  const my = ys.reduce((a, b) => a + b, 0) / ys.length
  const slope = xs.reduce((sum, x, i) => sum + (x - mx) * (ys[i] - my), 0) / xs.reduce((sum, x) => sum + (x - mx) ** 2, 0)
  if (!(slope > 0)) return undefined
  const last = recent.reduce((a, b) => (a.time > b.time ? a : b))
  const days = Math.max(0, (last.total_bytes - last.used_bytes) / slope)
  return { days_to_full: Math.round(days * 10) / 10, bytes_per_day: Math.round(slope), full_at: new Date(Date.parse(last.time) + days * DAY).toISOString() }
}

export function storageForecastAlert(node: string, forecast: Forecast | undefined, now: Date, warnDays: number): Alert | undefined {
  if (!forecast || forecast.days_to_full > warnDays) return undefined
  return {
    kind: 'storage_forecast', node, since: now.toISOString(),
    // Short: report fits an alert on one 80-column line.
    message: `disk full in ~${Math.ceil(forecast.days_to_full)} days at +${formatBytes(forecast.bytes_per_day)}/day (${forecast.full_at.slice(0, 10)})`,
  }
}

// Disk errors

export type DeviceError = { device: string; counter: string; count: number }

/** `btrfs device stats` lines like `[/dev/sda].write_io_errs   0`; only the counters above zero. */
export function parseDeviceStats(text: string): DeviceError[] {
  const errors: DeviceError[] = []
  for (const line of text.split('\n')) {
    const m = /^\[(.+)\]\.(\w+)\s+(\d+)\s*$/.exec(line.trim())
    if (m && Number(m[3]) > 0) errors.push({ device: m[1], counter: m[2], count: Number(m[3]) })
  }
  return errors
}

export function diskErrorsAlert(node: string, errors: DeviceError[], now: Date): Alert | undefined {
  if (errors.length === 0) return undefined
  const list = errors.map((e) => `${e.device} ${e.counter}=${e.count}`).join(', ')
  return { kind: 'disk_errors', node, since: now.toISOString(), message: `btrfs counts errors on ${node}'s disk: ${list} (check cabling and SMART; run a scrub)` }
}

// Scrub

export type ScrubSummary = { errors: string | null; uncorrectable: number }

/** `btrfs scrub start -B` output: "Error summary: no errors found", or "csum=1 … Uncorrectable: 1". */
export function parseScrubSummary(text: string): ScrubSummary {
  const summary = /^Error summary:\s*(.+)$/m.exec(text)?.[1].trim() ?? null
  const uncorrectable = Number(/^\s*Uncorrectable:\s*(\d+)/m.exec(text)?.[1] ?? 0)
  return { errors: summary === null || /no errors found/.test(summary) ? null : summary, uncorrectable }
}

/** integrity, when the latest scrub found errors (a later clean scrub clears it). */
export function scrubIntegrityAlert(node: string, history: HistoryEntry[]): Alert | undefined {
  const last = history.filter((e) => e.step === 'scrub').at(-1)
  if (!last || last.result === 'ok') return undefined
  return { kind: 'integrity', node, since: last.time, message: `the scrub of ${node}'s disk on ${last.time.slice(0, 10)} found errors: ${last.message ?? last.result}` }
}
