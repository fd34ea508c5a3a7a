// The mail for one alert, and <state>/alerts.json: when each alert was first seen and last mailed.
import { join } from 'node:path'
import type { Alert, AlertKind, AlertState } from './alerts.ts'
import type { Config } from './config.ts'
import type { FamilyReport } from './family-report.ts'
import { fit } from './format.ts'
import type { Mail } from './mail.ts'
import { renderReport } from './report-text.ts'
import { readJsonFile, writeStateFile } from './state.ts'

const alertStateFile = (config: Config) => join(config.state, 'alerts.json')

export function readAlertState(config: Config): AlertState {
  return readJsonFile<AlertState>(alertStateFile(config)) ?? {}
}

export function saveAlertState(config: Config, alerts: AlertState): void {
  writeStateFile(config, alertStateFile(config), `${JSON.stringify(alerts, null, 1)}\n`)
}

const WHAT_TO_DO: Record<AlertKind, (node: string) => string> = {
  peer_offline: (node) => `Check that ${node} is powered on and online, and that its sshd runs; famlab report on ${node} says more.`,
  backup_stale: (node) => `See "famlab report" and journalctl -u famlab-backup.service on ${node}; famlab-backup.timer runs a backup every hour.`,
  storage_full: (node) => `Free space on ${node} (famlab prune, a shorter retention) or give it a larger disk; transfers that do not fit are not started.`,
  backup_failed: (node) => `See journalctl -u famlab-backup.service and <state>/history.jsonl on ${node}.`,
  integrity: (node) => `Run famlab verify on ${node} to list the differences.`,
  recovery_needed: (node) => `Bring the data back with famlab restore --from PEER --to <root>/local on ${node}, or run famlab backup --force if the loss is intended.`,
  replication_factor: (node) => `famlab report on ${node} shows where its copies go (family.copies) and which holders lag; a holder offline past alerts.offline_hours is replaced by the next one at the next backup.`,
  storage_forecast: (node) => `Plan now: a shorter retention (famlab prune --dry-run shows what goes), fewer sources, or a larger disk for ${node}.`,
  disk_errors: (node) => `Check the disk of ${node}: btrfs device stats, smartctl -a, cabling; run famlab scrub. Reset the counters with btrfs device stats -z once fixed.`,
}

export function alertMail(to: string, report: FamilyReport, alert: Alert, reminder: boolean): Mail {
  const subject = fit(`[famlab ${report.node}] ${reminder ? 'still: ' : ''}${alert.kind} ${alert.node}: ${alert.message}`, 160)
  const body = [
    alert.message,
    '',
    `alert:    ${alert.kind}`,
    `node:     ${alert.node}`,
    `since:    ${alert.since}`,
    `reported: by ${report.node} at ${report.time}`,
    ...(reminder ? ['', 'This is a daily reminder: the alert is still raised.'] : []),
    '',
    WHAT_TO_DO[alert.kind](alert.node),
    '',
    'The family now:',
    '',
    renderReport(report),
  ]
  return { to, subject, body: body.join('\n') }
}
