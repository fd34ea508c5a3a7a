#!/usr/bin/env tsx
// famlab report: the health of the whole family, from this node; mails new alerts and writes
// Prometheus metrics when asked. Exit 0 no alert, 1 at least one alert (or metrics not written),
// 2 bad arguments or config.
import { addAgreement, renderAgreement, renderAgreementMetrics } from '../lib/agreement-report.ts'
import { alertMail, readAlertState, saveAlertState } from '../lib/alert-mail.ts'
import { alertKey, alertsToMail, nextAlertState } from '../lib/alerts.ts'
import { runCommand } from '../lib/cli.ts'
import { EXIT, runIfMain } from '../lib/exit.ts'
import { eventsMail, eventsToMail, markEventsMailed, readEvents, renderEvents } from '../lib/events.ts'
import { requireMembership } from '../lib/family.ts'
import { buildReport, gatherFacts } from '../lib/family-report.ts'
import { sendMail, sendQueuedMail } from '../lib/mail.ts'
import { mailQueueSummary, renderMailQueue, renderMailQueueMetrics } from '../lib/mail-queue.ts'
import { renderMetrics, writeTextfile } from '../lib/prometheus.ts'
import { renderReport } from '../lib/report-text.ts'
import { addTargets, renderTargetMetrics, renderTargets } from '../lib/target-report.ts'

/** Informational events shown at the end of the report (all of them stay in events.jsonl). */
const RECENT_EVENTS = 5

const usage = `
famlab report [--json] [--mail] [--prometheus FILE] [--config FILE]

The health of the whole family, seen from this node. Each peer is asked for its status
(20 s at most, all at once); a peer that does not answer is shown as last seen.
Per node: reached or not and when last seen, its last backup and why it failed, the
newest complete copy of it on each peer; per holder: disk size, free space, what each
origin's replicas use and whether they fit the family share (capacity.local_fraction);
then the family agreement (family.copies: where each node's copies go, its allowance and
use; this node's status questions answered); then the alerts: peer_offline, backup_stale,
storage_full, backup_failed, integrity, recovery_needed, replication_factor,
storage_forecast, disk_errors (thresholds in the config's alerts: section). Bare targets
(famlab add-target) are probed too: the newest copy of this node there, its size and the
target's disk, with peer_offline, backup_stale and storage_full named after the target.

Options:
  --json              the report as JSON (stable; fields are only ever added; see README)
  --mail              mail each new alert to alerts.mailto through /usr/sbin/sendmail,
                      and a reminder once a day while it stays. Mail sendmail refuses
                      waits in <state>/mail-queue/; every report and notify run sends it.
                      New events (membership_changed) go in one informational mail.
  --prometheus FILE   write node_exporter textfile metrics to FILE, atomically

Exit codes: 0 no alert, 1 at least one alert or FILE not written, 2 bad arguments or config.
Example: famlab report --mail --prometheus /var/lib/prometheus/node-exporter/famlab.prom
`

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage, boolean: ['json', 'mail'], string: ['prometheus'] }, async (ctx, args) => {
    const now = ctx.clock.now()

    // Gather: this node, every peer's status, what the silent ones said last
    const previous = readAlertState(ctx.config)
    const health = buildReport(await gatherFacts(ctx), ctx.config.alerts, previous)
    const agreed = await addTargets(ctx, await addAgreement(ctx, health, requireMembership(ctx.config), previous), previous)

    // Mail: what earlier runs queued, then one per new alert and a reminder a day while it stays;
    // what cannot be sent now is queued (never lost) and sent by the next run
    const mailed = new Set<string>()
    await sendQueuedMail(ctx)
    if (args.mail) {
      for (const { alert, reminder } of alertsToMail(agreed.alerts, previous, now)) {
        if (await sendMail(ctx, alertMail(ctx.config.alerts.mailto, agreed, alert, reminder)) !== 'failed') mailed.add(alertKey(alert))
      }
    }
    saveAlertState(ctx.config, nextAlertState(agreed.alerts, previous, mailed, now))
    const untold = eventsToMail(ctx.config)
    if (args.mail && untold.events.length > 0 && await sendMail(ctx, eventsMail(ctx.config.alerts.mailto, ctx.config.node, untold.events)) !== 'failed') {
      markEventsMailed(ctx.config, untold.through)
    }
    const report = { ...agreed, events: readEvents(ctx.config).slice(-RECENT_EVENTS), mail_queue: mailQueueSummary(ctx.config) }
    process.stdout.write(args.json ? `${JSON.stringify(report, null, 2)}\n`
      : renderReport(report) + renderTargets(report) + renderAgreement(report) + renderEvents(report.events) + renderMailQueue(report.mail_queue))

    // Metrics for node_exporter's textfile collector
    if (args.prometheus) {
      try {
        writeTextfile(args.prometheus, renderMetrics(report) + renderAgreementMetrics(report.agreement) + renderTargetMetrics(report) + renderMailQueueMetrics(report.mail_queue))
      } catch (err) {
        ctx.log.warn('report', `could not write ${args.prometheus}: ${(err as Error).message}`)
        return EXIT.failed
      }
    }
    return report.alerts.length > 0 ? EXIT.failed : EXIT.ok
  })
}

runIfMain(import.meta.url, main)
