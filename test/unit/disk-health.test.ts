import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { dailySamples } from '../../lib/disk-health.ts'

describe('the usage samples a node reports to the family', () => {
  it('keeps the last sample of each UTC day of the last 30 days, oldest first', () => {
    const sample = (time: string, used: number) => ({ time, used_bytes: used, total_bytes: 100 })
    const samples = [
      sample('2026-10-01T10:00:00Z', 1), // over 30 days old
      sample('2026-11-20T01:00:00Z', 10), sample('2026-11-20T23:00:00Z', 11),
      sample('2026-11-21T05:00:00Z', 12),
    ]
    assert.deepEqual(dailySamples(samples, new Date('2026-11-22T00:00:00Z')), [samples[2], samples[3]])
  })
})
