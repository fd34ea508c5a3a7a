import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { alertKey, alertsToMail, carrySince, evaluateAlerts, nextAlertState, type FamilyFacts, type MemberFacts } from '../../lib/alerts.ts'
import type { NodeHealth } from '../../lib/health.ts'
import type { BackupStatus } from '../../lib/status.ts'

const LIMITS = { offline_hours: 24, stale_hours: 36, storage_full_percent: 90, warn_days: 14, mailto: 'root' }
const T0 = Date.UTC(2026, 10, 23, 10)
const at = (hours: number) => new Date(T0 + hours * 3600_000).toISOString()
const snap = (hours: number) => at(hours).replace(/\.000Z$/, 'Z').replace(/:/g, '')
const GiB = 1024 ** 3

function health(node: string, held: Record<string, number>, extra: Partial<NodeHealth> = {}): NodeHealth {
  return {
    node, total_bytes: 10 * GiB, free_bytes: 6 * GiB, local_fraction: 0.334, takes_backups: true, newest_snapshot: null,
    origins: Object.fromEntries(Object.entries(held).map(([origin, hours]) => [origin, { newest: snap(hours), count: 1, bytes: GiB }])),
    last_backup: null, last_success: null, ...extra,
  }
}

function member(name: string, overrides: Partial<MemberFacts> = {}): MemberFacts {
  return { name, joined: at(-100), self: false, reachable: true, last_seen: at(0), problem: null, health: null, health_time: at(0), ...overrides }
}

/** alice (self), bob and carol, each holding the two others' newest snapshot from hour 0. */
function family(now: number, changes: Record<string, Partial<MemberFacts>> = {}, rest: Partial<FamilyFacts> = {}): FamilyFacts {
  const holds = (self: string) => Object.fromEntries(['alice', 'bob', 'carol'].filter((n) => n !== self).map((n) => [n, 0]))
  return {
    node: 'alice',
    now: at(now),
    members: ['alice', 'bob', 'carol'].map((name) => member(name, { self: name === 'alice', health: health(name, holds(name)), ...changes[name] })),
    integrity: [],
    local_empty: false,
    ...rest,
  }
}

const kinds = (facts: FamilyFacts) => evaluateAlerts(facts, LIMITS).map((a) => `${a.kind} ${a.node}`)

describe('alerts', () => {
  it('raises nothing for a healthy family', () => {
    assert.deepEqual(kinds(family(1)), [])
  })

  it('peer_offline only past offline_hours since the last contact, only while unreachable', () => {
    assert.deepEqual(kinds(family(23, { carol: { reachable: false } })), [])
    const facts = family(25, { carol: { reachable: false } })
    const [alert] = evaluateAlerts(facts, LIMITS)
    assert.deepEqual([alert.kind, alert.node, alert.since], ['peer_offline', 'carol', at(0)])
    assert.match(alert.message, /carol has not been reached for 25h/)
    assert.deepEqual(kinds(family(25, { carol: { reachable: true } })), [])
    assert.deepEqual(kinds(family(25, { carol: { reachable: false, last_seen: null, joined: at(-100) } })), ['peer_offline carol'])
  })

  it('backup_stale when the newest copy anywhere is older than stale_hours, not for replica-only nodes', () => {
    assert.deepEqual(kinds(family(35)), [])
    assert.deepEqual(kinds(family(37)), ['backup_stale alice', 'backup_stale bob', 'backup_stale carol'])
    const fresh = family(37)
    for (const m of fresh.members) for (const origin of Object.values(m.health!.origins)) origin.newest = snap(30)
    assert.deepEqual(kinds(fresh), [])
    const replicaOnly = family(37)
    replicaOnly.members.find((m) => m.name === 'bob')!.health!.takes_backups = false
    assert.ok(!kinds(replicaOnly).includes('backup_stale bob'))
  })

  it('storage_full from usage and from a peer that lacked room for the last transfer', () => {
    assert.deepEqual(kinds(family(1, { bob: { health: health('bob', { alice: 0, carol: 0 }, { free_bytes: GiB }) } })), ['storage_full bob'])
    assert.deepEqual(kinds(family(1, { bob: { health: health('bob', { alice: 0, carol: 0 }, { free_bytes: GiB + 1 }) } })), [])
    const lastBackup: BackupStatus = {
      time: at(1), exit_code: 1, result: 'failed', message: 'bob: no-space', snapshot: snap(1),
      peers: [{ peer: 'bob', result: 'no-space', message: 'needs about 2G, has 1G free', seconds: 1 }],
    }
    const alerts = evaluateAlerts(family(1, { alice: { health: health('alice', { bob: 0, carol: 0 }, { last_backup: lastBackup }) } }), LIMITS)
    assert.deepEqual(alerts.map((a) => `${a.kind} ${a.node}`), ['storage_full bob', 'backup_failed alice'])
    assert.match(alerts[0].message, /bob lacks room for the next transfer: needs about 2G/)
  })

  it('backup_failed, recovery_needed and integrity for this node', () => {
    const failed = (reason?: 'recovery_needed'): Partial<MemberFacts> => ({
      health: health('alice', { bob: 0, carol: 0 }, { last_backup: { time: at(1), exit_code: 1, result: 'failed', message: 'disk error', peers: [], reason } }),
    })
    assert.deepEqual(kinds(family(1, { alice: failed() })), ['backup_failed alice'])
    assert.deepEqual(kinds(family(1, { alice: failed('recovery_needed') })), ['recovery_needed alice'])
    assert.deepEqual(kinds(family(1, {}, { local_empty: true })), ['recovery_needed alice'])
    assert.deepEqual(kinds(family(1, {}, { recovery_needed: { since: at(1), message: 'local/ is empty' } })), ['recovery_needed alice'])
    assert.deepEqual(kinds(family(1, {}, { integrity: [{ peer: 'bob', time: at(1), message: '2 files differ' }] })), ['integrity bob'])
  })

  it('mails a new alert once, reminds once a day, and forgets a cleared one', () => {
    const alerts = evaluateAlerts(family(25, { carol: { reachable: false } }), LIMITS)
    const first = alertsToMail(alerts, {}, new Date(at(25)))
    assert.deepEqual(first.map((m) => [alertKey(m.alert), m.reminder]), [['peer_offline:carol', false]])
    const state = nextAlertState(alerts, {}, new Set(['peer_offline:carol']), new Date(at(25)))
    assert.deepEqual(alertsToMail(alerts, state, new Date(at(48))), [])
    assert.deepEqual(alertsToMail(alerts, state, new Date(at(49))).map((m) => m.reminder), [true])
    // unsent mail is tried again on the next run
    const unsent = nextAlertState(alerts, {}, new Set(), new Date(at(25)))
    assert.equal(alertsToMail(alerts, unsent, new Date(at(26))).length, 1)
    assert.deepEqual(nextAlertState([], state, new Set(), new Date(at(50))), {})
  })

  it('keeps the first time an alert was seen', () => {
    const [alert] = evaluateAlerts(family(1, { bob: { health: health('bob', { alice: 0, carol: 0 }, { free_bytes: 0 }), health_time: at(5) } }), LIMITS)
    assert.equal(carrySince([alert], { 'storage_full:bob': { since: at(2) } })[0].since, at(2))
    assert.equal(carrySince([alert], {})[0].since, at(5))
  })
})
