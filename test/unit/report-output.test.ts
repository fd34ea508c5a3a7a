import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { evaluateAlerts, type FamilyFacts } from '../../lib/alerts.ts'
import { buildReport } from '../../lib/family-report.ts'
import { formatBytes, formatDuration } from '../../lib/format.ts'
import { composeMail } from '../../lib/mail.ts'
import { renderMetrics } from '../../lib/prometheus.ts'
import { renderReport } from '../../lib/report-text.ts'
import type { NodeHealth } from '../../lib/health.ts'

const LIMITS = { offline_hours: 24, stale_hours: 36, storage_full_percent: 90, warn_days: 14, mailto: 'root' }
const GiB = 1024 ** 3
const NOW = '2026-11-24T11:00:00.000Z'

function health(node: string, others: string[]): NodeHealth {
  return {
    node, total_bytes: 931 * GiB, free_bytes: 12 * GiB, local_fraction: 0.334, takes_backups: true, newest_snapshot: '2026-11-24T100000Z',
    origins: Object.fromEntries(others.map((o) => [o, { newest: '2026-11-23T100000Z', count: 40, bytes: 123 * GiB }])),
    last_backup: { time: '2026-11-24T10:05:00.000Z', exit_code: 1, result: 'failed', message: 'a-very-long-peer-name-of-32-char: no-space, another: offline', peers: [], seconds: 61.5 },
    last_success: '2026-11-23T10:05:00.000Z',
  }
}

/** Five members with the longest names allowed: the table must still fit. */
function bigFamily(): FamilyFacts {
  const names = ['a-very-long-peer-name-of-32-char', 'grandma-in-the-countryside-house', 'uncle-bob', 'me', 'x']
  return {
    node: 'me',
    now: NOW,
    members: names.map((name) => ({
      name, joined: '2026-01-01T00:00:00Z', self: name === 'me', reachable: name !== 'uncle-bob', last_seen: '2026-11-22T09:00:00.000Z',
      problem: name === 'uncle-bob' ? 'offline: ssh: connect to host 203.0.113.7 port 22: Connection timed out after a long wait' : null,
      health: health(name, names.filter((n) => n !== name)), health_time: NOW,
    })),
    integrity: [],
    local_empty: false,
  }
}

describe('report output', () => {
  const report = buildReport(bigFamily(), LIMITS)

  it('fits 80 columns even with 32-character names and long messages', () => {
    const text = renderReport(report)
    for (const line of text.split('\n')) assert.ok(line.length <= 80, `${line.length}: ${line}`)
    assert.match(text, /^famlab report from me, 2026-11-24 11:00 UTC: \d+ alerts$/m)
    assert.match(text, /^uncle-bob +no, 50h +failed 55m ago/m)
  })

  it('raises the same alerts as the pure evaluation', () => {
    assert.deepEqual(report.alerts, evaluateAlerts(bigFamily(), LIMITS))
    assert.ok(report.alerts.some((a) => a.kind === 'peer_offline' && a.node === 'uncle-bob'))
  })

  it('renders metrics in the text exposition format, each metric once, labels escaped', () => {
    const text = renderMetrics(report)
    const types = text.split('\n').filter((l) => l.startsWith('# TYPE')).map((l) => l.split(' ')[2])
    assert.equal(new Set(types).size, types.length)
    assert.match(text, /^famlab_peer_up\{peer="uncle-bob"\} 0$/m)
    assert.match(text, /^famlab_last_backup_duration_seconds\{node="me"\} 61.5$/m)
    assert.match(text, /^famlab_alerts \d+$/m)
    for (const line of text.trim().split('\n').filter((l) => !l.startsWith('#'))) {
      assert.match(line, /^famlab_[a-z_]+(\{([a-z_]+="[^"\\\n]*",?)+\})? -?[\d.e+]+$/)
    }
  })

  it('formats sizes and ages short', () => {
    assert.deepEqual([0, 1023, 1536, 12 * GiB, 931 * GiB, 2.5 * 1024 * GiB].map(formatBytes), ['0B', '1023B', '1.5K', '12G', '931G', '2.5T'])
    assert.deepEqual([59_000, 3_600_000, 71 * 3_600_000, 72 * 3_600_000].map(formatDuration), ['0m', '1h', '71h', '3d'])
  })

  it('composes a mail for sendmail -t with the recipients in To and CRLF lines', () => {
    const mail = composeMail({ to: 'root,admin@example.org', subject: 'famlab: größer', body: 'line 1\nline 2' }, new Date(NOW))
    assert.match(mail, /^To: root, admin@example.org\r\n/)
    assert.match(mail, /\r\nSubject: =\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=\r\n/)
    assert.match(mail, /\r\nAuto-Submitted: auto-generated\r\n/)
    assert.ok(mail.endsWith('\r\n\r\nline 1\r\nline 2\r\n'))
  })
})
