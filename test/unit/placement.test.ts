import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { HistoryEntry } from '../../lib/history.ts'
import { holdersToSeed, placeCopies, rankHolders, reachabilityOf, wantedCopies, type Candidate } from '../../lib/placement.ts'

const members = (names: string[], offered = 1e12): Candidate[] => names.map((name) => ({ name, offered_bytes: offered }))
const FAMILY = members(['alice', 'bob', 'carol', 'dave', 'erin', 'frank'])
const ORIGINS = Array.from({ length: 400 }, (_, i) => `node-${i}`)
const seen = () => 'seen' as const

describe('placement of copies (rendezvous hashing)', () => {
  it('is deterministic and independent of the order members are listed in', () => {
    const a = placeCopies('alice', FAMILY, 2, seen)
    const b = placeCopies('alice', [...FAMILY].reverse(), 2, seen)
    assert.deepEqual(a.holders, b.holders)
    assert.equal(a.holders.length, 2)
    assert.ok(!a.holders.includes('alice'), 'never the origin itself')
    assert.deepEqual(rankHolders('bob', FAMILY), rankHolders('bob', FAMILY.slice().sort(() => -1)))
  })

  it('"all" and a k above the peer count mean every peer', () => {
    assert.equal(wantedCopies('all', 5), 5)
    assert.equal(wantedCopies(9, 5), 5)
    assert.deepEqual(placeCopies('alice', FAMILY, 'all', seen).holders.sort(), ['bob', 'carol', 'dave', 'erin', 'frank'])
  })

  it('when a member leaves, only the copies it held move, each to one new holder', () => {
    const before = new Map(ORIGINS.map((o) => [o, placeCopies(o, FAMILY, 2, seen).holders]))
    const after = new Map(ORIGINS.map((o) => [o, placeCopies(o, FAMILY.filter((m) => m.name !== 'carol'), 2, seen).holders]))
    let moved = 0
    for (const origin of ORIGINS) {
      const [was, now] = [before.get(origin)!, after.get(origin)!]
      if (!was.includes('carol')) {
        assert.deepEqual(now, was, `${origin} did not hold on carol and must not move`)
        continue
      }
      moved++
      const kept = was.filter((h) => h !== 'carol')
      assert.deepEqual(now.filter((h) => kept.includes(h)), kept, `${origin} keeps its other holder`)
      assert.equal(now.filter((h) => !was.includes(h)).length, 1)
    }
    // carol held about 2/6 of the copies
    assert.ok(moved > 90 && moved < 180, `moved ${moved} of ${ORIGINS.length}`)
  })

  it('a peer gone past offline_hours is passed over for the next one, and comes back when seen', () => {
    const normal = placeCopies('alice', FAMILY, 2, seen)
    const gone = normal.holders[0]
    const moved = placeCopies('alice', FAMILY, 2, (n) => (n === gone ? 'gone' : 'seen'))
    assert.deepEqual(moved.passedOver, [gone])
    assert.deepEqual(moved.holders, [normal.holders[1], rankHolders('alice', FAMILY)[2]])
    assert.deepEqual(holdersToSeed(moved.holders, { [normal.holders[1]]: ['2026-11-23T100000Z'] }), [rankHolders('alice', FAMILY)[2]])
  })

  it('gives each holder a share of the copies in proportion to the space it offers', () => {
    const family = [...members(['big'], 4e12), ...members(['p1', 'p2', 'p3', 'p4'], 1e12)]
    const counts: Record<string, number> = {}
    for (const origin of ORIGINS.map((o) => `x${o}`)) for (const h of placeCopies(origin, family, 1, seen).holders) counts[h] = (counts[h] ?? 0) + 1
    // big offers half the space: about half the origins land there
    assert.ok(counts.big > 150 && counts.big < 250, JSON.stringify(counts))
    // without every member's offer known, all weigh the same
    const unknown = [...family.slice(0, 4), { name: 'p4' }]
    const even: Record<string, number> = {}
    for (const origin of ORIGINS) for (const h of placeCopies(origin, unknown, 1, seen).holders) even[h] = (even[h] ?? 0) + 1
    assert.ok(even.big < 130, JSON.stringify(even))
  })
})

describe('reachability from history', () => {
  const entry = (time: string, peer: string, result: HistoryEntry['result']): HistoryEntry => ({ time, run: 'r', node: 'alice', step: 'replicate', peer, result })
  const now = new Date('2026-11-25T12:00:00Z')
  const joined = '2026-11-20T00:00:00Z'

  it('a peer never tried, or seen after its last failure, is not gone', () => {
    assert.equal(reachabilityOf([], 'bob', joined, now, 24), 'seen')
    assert.equal(reachabilityOf([entry('2026-11-22T00:00:00Z', 'bob', 'offline'), entry('2026-11-22T01:00:00Z', 'bob', 'ok')], 'bob', joined, now, 24), 'seen')
  })

  it('gone once its last answer is older than offline_hours and the last try failed', () => {
    const history = [entry('2026-11-24T10:00:00Z', 'bob', 'ok'), entry('2026-11-25T11:00:00Z', 'bob', 'offline')]
    assert.equal(reachabilityOf(history, 'bob', joined, now, 24), 'gone')
    assert.equal(reachabilityOf(history, 'bob', joined, now, 48), 'seen')
    assert.equal(reachabilityOf([entry('2026-11-25T11:00:00Z', 'bob', 'timeout')], 'bob', joined, now, 24), 'gone')
    assert.equal(reachabilityOf(history, 'carol', joined, now, 24), 'seen')
  })
})
