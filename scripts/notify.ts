#!/usr/bin/env tsx
// famlab notify UNIT: mails the status and journal of a failed unit to alerts.mailto.
// Run by famlab-notify@.service through OnFailure=. Exit 0 mailed, 1 not sent now (queued), 2 bad arguments or config.
import { hostname } from 'node:os'
import { runCommand } from '../lib/cli.ts'
import { EXIT, runIfMain, UsageError } from '../lib/exit.ts'
import { sendMail } from '../lib/mail.ts'
import { describeUnit, UNIT_NAME } from '../lib/systemd.ts'

const usage = `
famlab notify UNIT [--config FILE]

Mails the status and the journal of UNIT's last run to alerts.mailto through
/usr/sbin/sendmail. famlab's units call it when they fail:
  OnFailure=famlab-notify@%n.service   (famlab-notify@.service runs famlab notify %i)
Mail queued by earlier runs goes first. A mail that cannot be sent is logged, recorded in
history and queued in <state>/mail-queue/; the next report or notify run sends it.

Exit codes: 0 mailed, 1 not sent now (queued), 2 bad arguments or config.
Example: famlab notify famlab-backup.service
`

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage, positional: [1, 1] }, async (ctx, args) => {
    const unit = String(args._[0])
    if (!UNIT_NAME.test(unit)) throw new UsageError(`"${unit.slice(0, 60)}" is not a systemd unit name`)

    // What systemd knows about the unit
    const { status, journal } = await describeUnit(unit)

    // One mail with both
    const body = [
      `${unit} failed on ${ctx.config.node} (${hostname()}) at ${ctx.clock.now().toISOString()}.`,
      '', '--- systemctl status', status, '', '--- journal of the last run', journal, '',
    ].join('\n')
    const sent = await sendMail(ctx, { to: ctx.config.alerts.mailto, subject: `[famlab ${ctx.config.node}] ${unit} failed`, body })
    return sent === 'sent' ? EXIT.ok : EXIT.failed
  })
}

runIfMain(import.meta.url, main)
