import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Thresholds } from '../../lib/alerts.ts'
import { buildTargetReport, renderTargetMetrics, targetAlerts, type TargetFacts } from '../../lib/target-report.ts'
import { parseProbe, parseSizes } from '../../lib/target-status.ts'
import { parseSshSpec, targetProblem } from '../../lib/targets.ts'

const good = { name: 'vps', user: 'backup', host: 'vps.example', port: 22, path: '/srv/backup', host_key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB', added: '' }

describe('bare targets', () => {
  it('reads user@host[:port]', () => {
    assert.deepEqual(parseSshSpec('backup@vps.example'), { user: 'backup', host: 'vps.example', port: 22 })
    assert.deepEqual(parseSshSpec('backup@127.0.0.1:2222'), { user: 'backup', host: '127.0.0.1', port: 2222 })
    for (const bad of ['vps.example', 'a b@host', 'backup@host:99999', 'backup@ho;st']) assert.equal(typeof parseSshSpec(bad), 'string', bad)
  })

  it('accepts only paths that need no quoting in a remote shell, and real host keys', () => {
    assert.equal(targetProblem(good), undefined)
    for (const path of ['srv/backup', '/srv/$(rm -rf ~)', '/srv/a b', '/srv/../etc', "/srv/it's"]) assert.match(targetProblem({ ...good, path }) ?? '', /path/, path)
    assert.match(targetProblem({ ...good, host_key: 'AAAA' }) ?? '', /host key/)
    assert.match(targetProblem({ ...good, name: 'Bad Name' }) ?? '', /name/)
  })
})

describe('bare targets in report', () => {
  const limits = { offline_hours: 24, stale_hours: 36, storage_full_percent: 90 } as Thresholds
  const now = new Date('2026-11-25T12:00:00Z')
  const holding = { snapshots: ['2026-11-24T100000Z', '2026-11-25T100000Z'], incomplete: false, total_bytes: 1000, free_bytes: 400 }
  const facts = (over: Partial<TargetFacts> = {}): TargetFacts => ({
    target: good, address: 'backup@vps.example:22:/srv/backup/alice', reachable: true, problem: null,
    seen: { last_seen: '2026-11-25T11:00:00.000Z', holding, newest_size: { bytes: 4096, files: 3 } }, ...over,
  })

  it('reads ls and df -Pk from the target', () => {
    const out = `.incomplete\n2026-11-25T100000Z\n2026-11-24T100000Z\n.pruning-x\n--- df\nFilesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda 1000 600 400 60% /\n`
    assert.deepEqual(parseProbe(out), { snapshots: ['2026-11-24T100000Z', '2026-11-25T100000Z'], incomplete: true, total_bytes: 1024_000, free_bytes: 409_600 })
    assert.equal(parseProbe('no separator'), undefined)
    assert.deepEqual(parseSizes('2026-11-24T100000Z 5000 12\nnoise\n'), { '2026-11-24T100000Z': { bytes: 5000, files: 12 } })
  })

  it('reports the newest copy, its age and size, and raises no alert while all is well', () => {
    const report = buildTargetReport(facts(), now)
    assert.equal(report.newest, '2026-11-25T100000Z')
    assert.equal(report.age_hours, 2)
    assert.equal(report.count, 2)
    assert.equal(report.newest_bytes, 4096)
    assert.deepEqual(targetAlerts(report, good.added, 'alice', true, limits, now), [])
  })

  it('raises peer_offline, backup_stale and storage_full named after the target', () => {
    const later = new Date('2026-11-27T12:00:00Z')
    const down = buildTargetReport(facts({ reachable: false, problem: 'offline: timed out', seen: { last_seen: '2026-11-25T11:00:00.000Z', holding: { ...holding, free_bytes: 50 } } }), later)
    const alerts = targetAlerts(down, good.added, 'alice', true, limits, later)
    assert.deepEqual(alerts.map((a) => [a.kind, a.node]), [['peer_offline', 'vps'], ['backup_stale', 'vps'], ['storage_full', 'vps']])
    assert.match(alerts[1].message, /newest complete copy of alice on target vps is 50h old/)
    assert.deepEqual(targetAlerts(down, good.added, 'alice', false, limits, later).map((a) => a.kind), ['peer_offline', 'storage_full'], 'no staleness without snapshots to send')
    const never = buildTargetReport(facts({ reachable: false, problem: 'offline', seen: null }), later)
    assert.match(targetAlerts(never, '2026-11-20T00:00:00Z', 'alice', true, limits, later)[0].message, /never since it was added/)
  })

  it('renders metrics promtool-style, one HELP and TYPE per metric', () => {
    const text = renderTargetMetrics({ node: 'alice', targets: [buildTargetReport(facts(), now)] })
    assert.match(text, /^famlab_target_up\{target="vps",origin="alice"\} 1$/m)
    assert.match(text, /^famlab_target_newest_copy_timestamp_seconds\{target="vps",origin="alice"\} 1795600800$/m)
    assert.equal(text.match(/^# TYPE famlab_target_up gauge$/gm)?.length, 1)
    assert.equal(renderTargetMetrics({ node: 'alice', targets: [] }), '')
  })
})
