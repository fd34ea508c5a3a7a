// report --prometheus FILE: node_exporter textfile metrics, written atomically (a scrape never
// sees half a file). Text exposition format 0.0.4: HELP and TYPE once, then that metric's samples.
import type { FamilyReport } from './family-report.ts'
import { parseSnapshotName } from './clock.ts'
import { writeFileAtomic } from './state.ts'

type Sample = { labels: Record<string, string>; value: number }
type Metric = { name: string; help: string; samples: Sample[] }

const seconds = (iso: string | null | undefined) => (iso ? Date.parse(iso) / 1000 : undefined)

const escapeLabel = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')

function metricsOf(report: FamilyReport): Metric[] {
  const metrics: Metric[] = []
  const gauge = (name: string, help: string, samples: (Sample | undefined)[]) => {
    metrics.push({ name: `famlab_${name}`, help, samples: samples.filter((s): s is Sample => s !== undefined && Number.isFinite(s.value)) })
  }
  const each = <T>(items: T[], sample: (item: T) => Sample | undefined) => items.map(sample)
  const nodes = report.nodes
  const peers = nodes.filter((n) => !n.self)

  gauge('report_timestamp_seconds', 'When this report was made.', [{ labels: {}, value: seconds(report.time)! }])
  gauge('last_backup_timestamp_seconds', 'When the node last ran a backup, as it last said.',
    each(nodes, (n) => n.last_backup ? { labels: { node: n.name }, value: seconds(n.last_backup.time)! } : undefined))
  gauge('last_success_timestamp_seconds', 'When the node last finished a backup that was not a failure.',
    each(nodes, (n) => n.last_success ? { labels: { node: n.name }, value: seconds(n.last_success)! } : undefined))
  gauge('last_backup_exit_code', 'Exit code of the last backup: 0 ok, 3 partial, 1 failed.',
    each(nodes, (n) => n.last_backup ? { labels: { node: n.name }, value: n.last_backup.exit_code } : undefined))
  gauge('last_backup_sent_bytes', 'Bytes rsync sent to all peers in the last backup.',
    each(nodes, (n) => n.last_backup ? { labels: { node: n.name }, value: n.last_backup.bytes } : undefined))
  gauge('last_backup_duration_seconds', 'How long the last backup took.',
    each(nodes, (n) => n.last_backup?.seconds != null ? { labels: { node: n.name }, value: n.last_backup.seconds } : undefined))
  gauge('peer_up', 'Whether the peer answered this report (1) or not (0).',
    each(peers, (n) => ({ labels: { peer: n.name }, value: n.reachable ? 1 : 0 })))
  gauge('peer_last_seen_timestamp_seconds', 'When the peer last answered any request.',
    each(peers, (n) => n.last_seen ? { labels: { peer: n.name }, value: seconds(n.last_seen)! } : undefined))
  gauge('filesystem_size_bytes', 'Size of the filesystem holding the node\'s storage root.',
    each(nodes, (n) => n.storage ? { labels: { node: n.name }, value: n.storage.total_bytes } : undefined))
  gauge('filesystem_free_bytes', 'Free space (for non-root) on the filesystem holding the storage root.',
    each(nodes, (n) => n.storage ? { labels: { node: n.name }, value: n.storage.free_bytes } : undefined))
  gauge('replicas_bytes', 'Disk space the replicas of an origin use on a holder.',
    nodes.flatMap((n) => Object.entries(n.storage?.by_origin ?? {}).map(([origin, bytes]) =>
      bytes === null ? undefined : { labels: { holder: n.name, origin }, value: bytes })))
  gauge('newest_copy_timestamp_seconds', 'Time of the newest complete copy of an origin on a holder.',
    nodes.flatMap((n) => n.copies.map((c) => {
      const time = c.newest ? parseSnapshotName(c.newest) : undefined
      return time ? { labels: { origin: n.name, holder: c.holder }, value: time.getTime() / 1000 } : undefined
    })))
  gauge('alerts', 'Number of alerts raised by this report.', [{ labels: {}, value: report.alerts.length }])
  gauge('alert', 'One sample per alert raised (value 1).',
    each(report.alerts, (a) => ({ labels: { kind: a.kind, node: a.node }, value: 1 })))
  return metrics
}

export function renderMetrics(report: FamilyReport): string {
  const lines: string[] = []
  for (const metric of metricsOf(report)) {
    lines.push(`# HELP ${metric.name} ${metric.help}`, `# TYPE ${metric.name} gauge`)
    for (const { labels, value } of metric.samples) {
      const text = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')
      lines.push(`${metric.name}${text ? `{${text}}` : ''} ${value}`)
    }
  }
  return `${lines.join('\n')}\n`
}

/** node_exporter only reads `*.prom`, so the temp file beside it is invisible. */
export function writeTextfile(file: string, text: string): void {
  writeFileAtomic(file, text, 0o644)
}
