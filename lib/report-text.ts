// report's table for people: fits 80 columns, one row per node, then storage, then alerts.
import type { FamilyReport, NodeReport } from './family-report.ts'
import { fit, formatAge, formatBytes, formatDuration } from './format.ts'

export const WIDTH = 80

const row = (cells: [string, number][], rest: string) =>
  fit(cells.map(([text, width]) => fit(text, width).padEnd(width)).join(' ') + ' ' + rest, WIDTH).trimEnd()

function reached(node: NodeReport, now: Date): string {
  if (node.self) return 'here'
  if (node.reachable) return 'yes'
  return node.last_seen ? `no, ${formatAge(node.last_seen, now)}` : 'never'
}

function lastBackup(node: NodeReport, now: Date): string {
  if (!node.last_backup) return node.storage ? 'none yet' : '?'
  return `${node.last_backup.result} ${formatAge(node.last_backup.time, now)} ago`
}

function copies(node: NodeReport): string {
  return node.copies.map((c) => `${c.holder} ${c.age_hours === null ? '-' : formatDuration(c.age_hours * 3_600_000)}`).join(', ')
}

export function renderReport(report: FamilyReport): string {
  const now = new Date(report.time)
  const lines: string[] = []
  const count = report.alerts.length
  lines.push(fit(`famlab report from ${report.node}, ${report.time.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, ' UTC')}: ${count ? `${count} alert${count > 1 ? 's' : ''}` : 'no alerts'}`, WIDTH))
  lines.push('')

  lines.push(row([['NODE', 11], ['REACHED', 9], ['LAST BACKUP', 17]], 'NEWEST COPY ON EACH PEER (AGE)'))
  for (const node of report.nodes) {
    lines.push(row([[node.name, 11], [reached(node, now), 9], [lastBackup(node, now), 17]], copies(node) || '-'))
    if (node.problem) lines.push(fit(`  ${node.name}: ${node.problem}`, WIDTH))
    if (node.last_backup && node.last_backup.result !== 'ok') lines.push(fit(`  ${node.name}: last backup ${node.last_backup.result}: ${node.last_backup.message}`, WIDTH))
  }
  lines.push('')

  lines.push(row([['STORAGE', 11], ['SIZE', 5], ['FREE', 5], ['USED', 6], ['FAMILY', 6], ['AGREEMENT', 9]], 'USED BY ORIGIN'))
  for (const node of report.nodes) {
    const s = node.storage
    if (!s) {
      lines.push(row([[node.name, 11]], 'never reported'))
      continue
    }
    const agreement = s.agreement_kept === null ? 'unknown' : s.agreement_kept ? 'kept' : 'EXCEEDED'
    const byOrigin = Object.entries(s.by_origin).map(([origin, bytes]) => `${origin} ${formatBytes(bytes)}`).join(', ')
    const stale = node.self || node.reachable ? '' : ' (last known)'
    lines.push(row([[node.name, 11], [formatBytes(s.total_bytes), 5], [formatBytes(s.free_bytes), 5], [`${Math.floor(s.used_percent)}%`, 6], [formatBytes(s.family_share_bytes), 6], [agreement, 9]], (byOrigin || '-') + stale))
  }
  lines.push('')

  lines.push(count ? 'ALERTS' : 'ALERTS: none')
  for (const alert of report.alerts) lines.push(fit(`  ${alert.kind} ${alert.node}: ${alert.message}`, WIDTH))
  return `${lines.join('\n')}\n`
}
