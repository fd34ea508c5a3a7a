import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { snapshotName } from '../../lib/clock.ts'
import { bucketOf, parsePolicy, planPrune, type RetentionPolicy } from '../../lib/retention.ts'

const policy = (text: string) => parsePolicy(text) as RetentionPolicy
const name = (iso: string) => snapshotName(new Date(iso))
const NOW = new Date('2026-11-23T10:00:00Z')

/** Hourly snapshots at minute 15 for `days` days up to NOW. */
function hourlySeries(days: number): string[] {
  const names: string[] = []
  for (let h = days * 24; h >= 1; h--) names.push(snapshotName(new Date(NOW.getTime() - h * 3600_000 + 15 * 60_000)))
  return names
}

describe('retention', () => {
  it('parses policies and rejects bad terms', () => {
    assert.deepEqual(policy('14d 8w 12m *y').terms, [
      { count: 14, unit: 'd' }, { count: 8, unit: 'w' }, { count: 12, unit: 'm' }, { count: Infinity, unit: 'y' },
    ])
    assert.equal(typeof parsePolicy('14x'), 'string')
    assert.equal(typeof parsePolicy(''), 'string')
    assert.equal(typeof parsePolicy('d'), 'string')
    assert.equal(typeof parsePolicy('0h'), 'string')
  })

  it('puts weeks on Mondays, in UTC', () => {
    assert.equal(bucketOf(new Date('2026-11-23T00:00:00Z'), 'w'), '2026-11-23') // a Monday
    assert.equal(bucketOf(new Date('2026-11-29T23:59:59Z'), 'w'), '2026-11-23') // the Sunday after
    assert.equal(bucketOf(new Date('2026-11-30T00:00:00Z'), 'w'), '2026-11-30')
    assert.equal(bucketOf(new Date('2026-11-23T10:15:00Z'), 'h'), '2026-11-23T10')
    assert.equal(bucketOf(new Date('2026-11-23T10:15:00Z'), 'm'), '2026-11')
  })

  it('keeps the oldest snapshot of each of the newest N buckets', () => {
    const names = hourlySeries(90)
    const plan = planPrune(names, policy('14d'), NOW)
    // 14 days: the 00:15 snapshot of each of the last 14 days, plus the newest
    const days = new Set(plan.keep.map((n) => n.slice(0, 10)))
    assert.equal(days.size, 14)
    assert.equal(plan.keep.length, 15)
    for (const kept of plan.keep.slice(0, 14)) assert.match(kept, /T001500Z$/)
    assert.equal(plan.keep.at(-1), names.at(-1))
    assert.equal(plan.keep.length + plan.remove.length, names.length)
  })

  it('applies the default replica policy to a 90-day hourly series', () => {
    const names = hourlySeries(90)
    const plan = planPrune(names, policy('14d 8w 12m *y'), NOW)
    const expected = new Set<string>()
    const oldestIn = (unit: 'd' | 'w' | 'm' | 'y', count: number) => {
      const buckets = new Map<string, string>()
      for (const n of names) {
        const b = bucketOf(new Date(`${n.slice(0, 13)}:${n.slice(13, 15)}:${n.slice(15, 17)}Z`), unit)
        if (!buckets.has(b)) buckets.set(b, n)
      }
      for (const b of [...buckets.keys()].sort().reverse().slice(0, count)) expected.add(buckets.get(b)!)
    }
    oldestIn('d', 14); oldestIn('w', 8); oldestIn('m', 12); oldestIn('y', Infinity)
    expected.add(names.at(-1)!)
    assert.deepEqual(plan.keep, [...expected].sort())
    assert.equal(plan.keep[0], names[0]) // the very first is the oldest of its month and year
    assert.ok(plan.keep.length >= 20 && plan.keep.length <= 27, `${plan.keep.length} kept`)
  })

  it('keeps the newest even when no term would', () => {
    const plan = planPrune([name('2026-01-01T00:00:00Z'), name('2026-01-01T05:00:00Z')], policy('1d'), NOW)
    assert.deepEqual(plan.keep, [name('2026-01-01T00:00:00Z'), name('2026-01-01T05:00:00Z')])
  })

  it('never removes a snapshot dated after now (the clock went back)', () => {
    const future = name('2027-01-01T00:00:00Z')
    const plan = planPrune([...hourlySeries(3), future], policy('1h'), NOW)
    assert.ok(plan.keep.includes(future))
  })

  it('ignores names that are not snapshots', () => {
    const plan = planPrune(['.incomplete', '.resume', 'notes', name('2026-11-01T00:00:00Z')], policy('1d'), NOW)
    assert.deepEqual(plan.keep, [name('2026-11-01T00:00:00Z')])
    assert.deepEqual(plan.remove, [])
  })
})
