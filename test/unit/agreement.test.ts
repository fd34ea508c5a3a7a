import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  allowance, allowanceRefusalAlert, copiesFromHistory, copiesState, diskErrorsAlert, forecastFull, parseDeviceStats, parseScrubSummary, replicationFactorAlert, scrubIntegrityAlert,
  storageForecastAlert, usageSamples, type UsageSample,
} from '../../lib/agreement.ts'
import type { HistoryEntry } from '../../lib/history.ts'

const GiB = 2 ** 30
const at = (iso: string) => new Date(iso)

describe('copies of the newest snapshot', () => {
  const snaps = ['2026-11-23T100000Z', '2026-11-23T110000Z', '2026-11-24T110000Z']

  it('is backed up when k holders have the newest', () => {
    const state = copiesState(snaps, ['2026-11-24T110000Z', '2026-11-24T110000Z', null], 2, '2026-11-01T00:00:00Z')
    assert.deepEqual(state, { safe_snapshot: '2026-11-24T110000Z', copies_of_newest: 2, wanted: 2, behind_since: null })
  })

  it('is behind since the first snapshot after the newest one with k copies', () => {
    const state = copiesState(snaps, ['2026-11-24T110000Z', '2026-11-23T100000Z', undefined], 2, '2026-11-01T00:00:00Z')
    assert.equal(state.safe_snapshot, '2026-11-23T100000Z')
    assert.equal(state.copies_of_newest, 1)
    assert.equal(state.behind_since, '2026-11-23T11:00:00.000Z')
    assert.equal(replicationFactorAlert('alice', state, at('2026-11-24T22:00:00Z'), 36), undefined)
    const alert = replicationFactorAlert('alice', state, at('2026-11-25T00:00:00Z'), 36)
    assert.equal(alert?.kind, 'replication_factor')
    assert.equal(alert?.since, '2026-11-23T11:00:00.000Z')
    assert.match(alert!.message, /fewer than 2 complete copies .* for 37h \(the newest with 2 copies is 2026-11-23T100000Z\)/)
  })

  it('counts from joining when no snapshot ever had k copies, and raises nothing without snapshots', () => {
    assert.equal(copiesState(snaps, ['2026-11-24T110000Z'], 2, '2026-11-20T00:00:00Z').behind_since, '2026-11-20T00:00:00Z')
    assert.equal(copiesState([], [], 2, '2026-11-20T00:00:00Z').behind_since, null)
  })

  it('reads the newest replica on each peer from this node\'s own replicate steps', () => {
    const e = (peer: string, snapshot: string, result: HistoryEntry['result']): HistoryEntry => ({ time: '', run: 'r', node: 'alice', step: 'replicate', peer, snapshot, result })
    const history = [e('bob', snaps[0], 'ok'), e('carol', snaps[0], 'ok'), e('bob', snaps[1], 'ok'), e('carol', snaps[1], 'offline'), e('bob', snaps[1], 'up-to-date')]
    assert.deepEqual(copiesFromHistory(history, 'alice'), { bob: snaps[1], carol: snaps[0] })
  })
})

describe('the allowance S / k', () => {
  it('says how much more a node may back up, negative when over', () => {
    assert.deepEqual(allowance(600 * GiB, 2, 100 * GiB), { offered_bytes: 600 * GiB, copies: 2, allowance_bytes: 300 * GiB, used_bytes: 100 * GiB, remaining_bytes: 200 * GiB })
    assert.equal(allowance(600 * GiB, 3, 250 * GiB).remaining_bytes, -50 * GiB)
    assert.equal(allowance(undefined, 2, 1).allowance_bytes, null)
  })

  it('raises storage_full while the latest replication was refused as over the allowance', () => {
    const refused = { time: '2026-11-24T10:00:00Z', run: 'r1', node: 'alice', step: 'agreement', result: 'refused', snapshot: '2026-11-24T100000Z' } as HistoryEntry
    const sent = { time: '2026-11-24T11:00:00Z', run: 'r2', node: 'alice', step: 'replicate', peer: 'bob', result: 'ok' } as HistoryEntry
    const alert = allowanceRefusalAlert('alice', [refused])
    assert.equal(alert?.kind, 'storage_full')
    assert.equal(alert?.since, refused.time)
    assert.match(alert!.message, /alice is over its allowance .*2026-11-24T100000Z was not sent/)
    assert.equal(allowanceRefusalAlert('alice', [refused, sent]), undefined)
    assert.equal(allowanceRefusalAlert('alice', []), undefined)
  })
})

describe('storage forecast', () => {
  const day = (n: number) => new Date(Date.UTC(2026, 10, 1) + n * 86400_000).toISOString()
  const series = (perDay: number, start = 500 * GiB, days = 10): UsageSample[] =>
    Array.from({ length: days }, (_, i) => ({ time: day(i), used_bytes: start + i * perDay, total_bytes: 1000 * GiB }))

  it('warns when the trend fills the disk within warn_days', () => {
    // From 100 GiB, 40 GiB a day for 10 days: 540 GiB free, 13.5 days left
    const forecast = forecastFull(series(40 * GiB, 100 * GiB), at(day(9)))
    assert.equal(Math.round(forecast!.bytes_per_day / GiB), 40)
    assert.equal(forecast!.days_to_full, 13.5)
    const alert = storageForecastAlert('alice', forecast, at(day(9)), 14)
    assert.equal(alert?.kind, 'storage_forecast')
    assert.match(alert!.message, /^disk full in ~14 days at \+40\.0 GiB\/day \(2026-11-23\)$/)
    assert.equal(storageForecastAlert('alice', forecast, at(day(9)), 7), undefined)
  })

  it('stays quiet for a slow, flat or shrinking trend, and with too little data', () => {
    assert.equal(storageForecastAlert('alice', forecastFull(series(1 * GiB), at(day(9))), at(day(9)), 14), undefined)
    assert.equal(forecastFull(series(0), at(day(9))), undefined)
    assert.equal(forecastFull(series(-5 * GiB), at(day(9))), undefined)
    assert.equal(forecastFull(series(40 * GiB, 500 * GiB, 2), at(day(1))), undefined)
    // Only the last 30 days count: a burst long ago is forgotten.
    assert.equal(forecastFull(series(40 * GiB), at(day(60))), undefined)
  })

  it('reads its samples from the usage steps in history', () => {
    const entries = [
      { time: day(0), run: 'r', node: 'a', step: 'usage', result: 'ok', bytes: 5, total_bytes: 10 },
      { time: day(1), run: 'r', node: 'a', step: 'backup', result: 'ok', bytes: 7 },
    ] as HistoryEntry[]
    assert.deepEqual(usageSamples(entries), [{ time: day(0), used_bytes: 5, total_bytes: 10 }])
  })
})

describe('disk errors', () => {
  it('keeps only the counters above zero from btrfs device stats', () => {
    const text = '[/dev/loop3].write_io_errs    0\n[/dev/loop3].read_io_errs     2\n[/dev/loop3].flush_io_errs    0\n[/dev/loop3].corruption_errs  1\n[/dev/loop3].generation_errs  0\n'
    const errors = parseDeviceStats(text)
    assert.deepEqual(errors, [{ device: '/dev/loop3', counter: 'read_io_errs', count: 2 }, { device: '/dev/loop3', counter: 'corruption_errs', count: 1 }])
    assert.match(diskErrorsAlert('bob', errors, at('2026-11-01T00:00:00Z'))!.message, /read_io_errs=2, \/dev\/loop3 corruption_errs=1/)
    assert.equal(diskErrorsAlert('bob', parseDeviceStats(text.replace(/ [12]\n/g, ' 0\n')), at('2026-11-01T00:00:00Z')), undefined)
  })
})

describe('scrub', () => {
  it('reads the error summary of btrfs scrub start -B', () => {
    assert.deepEqual(parseScrubSummary('Status:           finished\nError summary:    no errors found\n'), { errors: null, uncorrectable: 0 })
    assert.deepEqual(parseScrubSummary('Error summary:    csum=1\n  Corrected:      0\n  Uncorrectable:  1\n  Unverified:     0\n'), { errors: 'csum=1', uncorrectable: 1 })
  })
})

describe('scrub errors raise integrity', () => {
  it('until a later scrub is clean', () => {
    const scrub = (time: string, result: HistoryEntry['result']): HistoryEntry => ({ time, run: 'r', node: 'dave', step: 'scrub', result, message: result === 'ok' ? 'no errors found' : 'errors found: csum=1' })
    assert.match(scrubIntegrityAlert('dave', [scrub('2026-11-01T00:00:00Z', 'failed')])!.message, /found errors: errors found: csum=1/)
    assert.equal(scrubIntegrityAlert('dave', [scrub('2026-11-01T00:00:00Z', 'failed'), scrub('2026-12-01T00:00:00Z', 'ok')]), undefined)
    assert.equal(scrubIntegrityAlert('dave', []), undefined)
  })
})
