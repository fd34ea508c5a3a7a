import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { renderAnswers, type StatusAnswers } from '../../lib/status-answers.ts'

const GiB = 2 ** 30
const answers: StatusAnswers = {
  node: 'alice',
  backed_up: false,
  copies: { safe_snapshot: '2026-11-23T100000Z', copies_of_newest: 1, wanted: 2, behind_since: '2026-11-23T11:00:00.000Z', placed_on: ['bob', 'carol'], newest_snapshot: '2026-11-24T110000Z' },
  on_peers: [{ peer: 'bob', newest: '2026-11-24T110000Z', bytes: 3 * GiB }, { peer: 'carol', newest: '2026-11-23T100000Z', bytes: null }],
  contributed: { offered_bytes: 600 * GiB, used_bytes: 5 * GiB, by_origin: { bob: 2 * GiB, carol: 3 * GiB } },
  allowance: { offered_bytes: 600 * GiB, copies: 2, allowance_bytes: 300 * GiB, used_bytes: 3 * GiB, remaining_bytes: 297 * GiB },
  members: [{ name: 'alice', self: true, joined: '', last_seen: '2026-11-25T00:00:00.000Z' }, { name: 'bob', self: false, joined: '', last_seen: '2026-11-24T22:00:00.000Z' }, { name: 'carol', self: false, joined: '', last_seen: null }],
  forecast: null,
}

describe('the status answers for people', () => {
  it('answers each question in a line under 80 columns', () => {
    const text = renderAnswers(answers, new Date('2026-11-25T00:00:00Z'))
    assert.match(text, /^alice: NOT backed up since 2026-11-23 11:00 UTC \(1 of 2 copies of the newest\)$/m)
    assert.match(text, /^  copies go to: bob, carol\n  on bob: 2026-11-24T110000Z, 3.0 GiB\n  on carol: 2026-11-23T100000Z$/m)
    assert.match(text, /given to the family: 600.0 GiB, used 5.0 GiB: bob 2.0 GiB, carol 3.0 GiB/)
    assert.match(text, /may back up \(S \/ k\): 300.0 GiB; uses 3.0 GiB; 297.0 GiB more allowed/)
    assert.match(text, /members: alice \(here\), bob seen 2h ago, carol never seen/)
    for (const line of text.trimEnd().split('\n')) assert.ok(line.length <= 80, line)
  })
})
