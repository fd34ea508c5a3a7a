// Retention: `<count><unit>` terms in UTC calendar buckets (CONTRACT: Retention). Pure functions.
import { parseSnapshotName } from './clock.ts'

export type Unit = 'h' | 'd' | 'w' | 'm' | 'y'
export type Term = { count: number; unit: Unit }
export type RetentionPolicy = { text: string; terms: Term[] }

const TERM = /^(\d+|\*)([hdwmy])$/

/** Parses `"14d 8w 12m *y"`; returns an error sentence instead of throwing, for the config validator. */
export function parsePolicy(text: string): RetentionPolicy | string {
  const words = text.trim().split(/\s+/).filter(Boolean)
  if (words.length === 0) return 'is empty'
  const terms: Term[] = []
  for (const word of words) {
    const m = TERM.exec(word)
    if (!m) return `has "${word}", expected terms like 48h 14d 8w 12m *y`
    const count = m[1] === '*' ? Infinity : Number(m[1])
    if (count === 0) return `has "${word}": a count must be at least 1`
    terms.push({ count, unit: m[2] as Unit })
  }
  return { text: words.join(' '), terms }
}

/** The UTC bucket a time falls in; weeks start on Monday. */
export function bucketOf(time: Date, unit: Unit): string {
  const iso = time.toISOString()
  switch (unit) {
    case 'h': return iso.slice(0, 13)
    case 'd': return iso.slice(0, 10)
    case 'm': return iso.slice(0, 7)
    case 'y': return iso.slice(0, 4)
    case 'w': {
      const daysSinceMonday = (time.getUTCDay() + 6) % 7
      return new Date(time.getTime() - daysSinceMonday * 86400_000).toISOString().slice(0, 10)
    }
  }
}

export type PrunePlan = { keep: string[]; remove: string[]; reasons: Map<string, string[]> }

/**
 * Decides which snapshots stay. Each term keeps the oldest snapshot in each of the newest
 * `count` buckets that hold one. The newest snapshot is always kept, and so is anything
 * dated after `now` (a clock that went back must never make us delete).
 */
export function planPrune(names: string[], policy: RetentionPolicy, now: Date): PrunePlan {
  const dated = names
    .map((name) => ({ name, time: parseSnapshotName(name) }))
    .filter((s): s is { name: string; time: Date } => s.time !== undefined)
    .sort((a, b) => a.time.getTime() - b.time.getTime())
  const reasons = new Map<string, string[]>()
  const keepFor = (name: string, why: string) => reasons.set(name, [...(reasons.get(name) ?? []), why])

  for (const { count, unit } of policy.terms) {
    const oldestPerBucket = new Map<string, string>()
    for (const { name, time } of dated) {
      const bucket = bucketOf(time, unit)
      if (!oldestPerBucket.has(bucket)) oldestPerBucket.set(bucket, name)
    }
    const newestBuckets = [...oldestPerBucket.keys()].sort().reverse().slice(0, count)
    for (const bucket of newestBuckets) keepFor(oldestPerBucket.get(bucket)!, `${unit} ${bucket}`)
  }
  const newest = dated.at(-1)
  if (newest) keepFor(newest.name, 'newest')
  for (const { name, time } of dated) if (time > now) keepFor(name, 'after now')

  const keep = dated.filter((s) => reasons.has(s.name)).map((s) => s.name)
  const remove = dated.filter((s) => !reasons.has(s.name)).map((s) => s.name)
  return { keep, remove, reasons }
}
