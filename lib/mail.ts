// Mail to the admin through the system's /usr/sbin/sendmail (msmtp, exim, postfix all provide it).
// A mail that cannot be sent is logged, recorded in history and queued (lib/mail-queue.ts) for the
// next run; it never crashes the caller.
import { hostname } from 'node:os'
import type { Context } from './context.ts'
import { lastLine, run } from './exec.ts'
import { recordStep } from './history.ts'
import { enqueueMail, flushMailQueue, mailQueueDir, subjectOf } from './mail-queue.ts'

export const SENDMAIL = '/usr/sbin/sendmail'

/** A relay that hangs must not hold a report or a notify forever. */
const SEND_TIMEOUT_MS = 120_000

export type Mail = { to: string; subject: string; body: string }

/** RFC 2047 for a subject that is not plain ASCII. */
function encodeHeader(text: string): string {
  return /^[\x20-\x7e]*$/.test(text) ? text : `=?UTF-8?B?${Buffer.from(text).toString('base64')}?=`
}

/** A complete message for `sendmail -t`: recipients come from the To header. */
export function composeMail(mail: Mail, now: Date): string {
  const headers = [
    `To: ${mail.to.split(',').join(', ')}`,
    `Subject: ${encodeHeader(mail.subject.replace(/[\r\n]+/g, ' '))}`,
    `Date: ${now.toUTCString().replace('GMT', '+0000')}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=UTF-8',
    'Content-Transfer-Encoding: 8bit',
    // RFC 3834: an automatic message; vacation responders stay quiet.
    'Auto-Submitted: auto-generated',
    `X-Famlab-Host: ${hostname()}`,
  ]
  const body = mail.body.replace(/\r?\n/g, '\r\n')
  return `${headers.join('\r\n')}\r\n\r\n${body}${body.endsWith('\r\n') ? '' : '\r\n'}`
}

async function deliver(ctx: Context, message: string): Promise<{ ok: true } | { ok: false; why: string }> {
  const result = await run([SENDMAIL, '-t', '-i'], { input: message, env: ctx.env, timeoutMs: SEND_TIMEOUT_MS })
  return result.ok ? { ok: true } : { ok: false, why: lastLine(result.stderr) || lastLine(result.stdout) || `exit ${result.code}` }
}

/** Sends what earlier runs queued, oldest first; every report and notify run calls it. */
export async function sendQueuedMail(ctx: Context): Promise<{ sent: number; left: number }> {
  const flushed = await flushMailQueue(ctx.config, async (message) => {
    const sent = await deliver(ctx, message)
    recordStep(ctx, { step: 'mail', result: sent.ok ? 'ok' : 'failed', message: `queued: ${subjectOf(message)}${sent.ok ? '' : `: ${sent.why}`}` })
    return sent.ok
  })
  if (flushed.sent > 0) ctx.log.info('mail', `sent ${flushed.sent} queued mail${flushed.sent === 1 ? '' : 's'}`)
  return flushed
}

/**
 * Sends one mail after any queued ones. `sent`: sendmail accepted it; `queued`: it waits in
 * <state>/mail-queue for the next run; `failed`: not even queueing worked.
 */
export async function sendMail(ctx: Context, mail: Mail): Promise<'sent' | 'queued' | 'failed'> {
  const message = composeMail(mail, ctx.clock.now())
  // While older mail waits, a new one joins the queue behind it rather than overtaking it.
  const earlier = await sendQueuedMail(ctx)
  const sent = earlier.left > 0 ? { ok: false as const, why: `${earlier.left} older mail still queued` } : await deliver(ctx, message)
  if (sent.ok) {
    recordStep(ctx, { step: 'mail', result: 'ok', message: mail.subject })
    return 'sent'
  }
  try {
    enqueueMail(ctx.config, message, ctx.clock.now())
  } catch (err) {
    ctx.log.warn('mail', `could not send "${mail.subject}" to ${mail.to} (${sent.why}), nor queue it: ${(err as Error).message}`)
    recordStep(ctx, { step: 'mail', result: 'failed', message: `${mail.subject}: ${sent.why}; not queued` })
    return 'failed'
  }
  ctx.log.warn('mail', `could not send "${mail.subject}" to ${mail.to}: ${SENDMAIL} failed: ${sent.why}; queued in ${mailQueueDir(ctx.config)}, sent by the next report or notify`)
  recordStep(ctx, { step: 'mail', result: 'failed', message: `${mail.subject}: ${sent.why}; queued` })
  return 'queued'
}
