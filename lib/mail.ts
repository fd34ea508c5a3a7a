// Mail to the admin through the system's /usr/sbin/sendmail (msmtp, exim, postfix all provide it).
// A mail that cannot be sent is logged and recorded in history; it never crashes the caller.
import { hostname } from 'node:os'
import type { Context } from './context.ts'
import { lastLine, run } from './exec.ts'
import { recordStep } from './history.ts'

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

/** Sends one mail; true when sendmail accepted it. */
export async function sendMail(ctx: Context, mail: Mail): Promise<boolean> {
  const result = await run([SENDMAIL, '-t', '-i'], { input: composeMail(mail, ctx.clock.now()), env: ctx.env, timeoutMs: SEND_TIMEOUT_MS })
  if (result.ok) {
    recordStep(ctx, { step: 'mail', result: 'ok', message: mail.subject })
    return true
  }
  const why = lastLine(result.stderr) || lastLine(result.stdout) || `exit ${result.code}`
  ctx.log.warn('mail', `could not send "${mail.subject}" to ${mail.to}: ${SENDMAIL} failed: ${why}`)
  recordStep(ctx, { step: 'mail', result: 'failed', message: `${mail.subject}: ${why}` })
  return false
}
