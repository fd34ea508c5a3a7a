// <state>/mail-queue/: mail that sendmail refused (relay down, no network) waits here, one
// complete message per file, until a later report or notify run (and so the timers) sends it.
// A file is removed only after sendmail accepted it: mail is never lost, and sent once.
import { randomBytes } from 'node:crypto'
import { readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Config } from './config.ts'
import { acquireLock } from './lock.ts'
import { BusyError } from './exit.ts'
import { ensureStateDir, readStateFile, writeStateFile } from './state.ts'

export const mailQueueDir = (config: Config) => join(config.state, 'mail-queue')

const MESSAGE = /^\d{8}T\d{6}Z-[0-9a-f]{8}\.eml$/

/** Queued message files, oldest first (their names start with the time they were queued). */
export function queuedMail(config: Config): string[] {
  try {
    return readdirSync(mailQueueDir(config)).filter((name) => MESSAGE.test(name)).sort()
  } catch {
    return []
  }
}

export function mailQueueSummary(config: Config): { queued: number; oldest: string | null } {
  const files = queuedMail(config)
  const stamp = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z/.exec(files[0] ?? '')
  const oldest = stamp ? `${stamp[1]}-${stamp[2]}-${stamp[3]}T${stamp[4]}:${stamp[5]}:${stamp[6]}Z` : null
  return { queued: files.length, oldest }
}

/** Keeps a composed message for the next run; returns its file. */
export function enqueueMail(config: Config, message: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
  const file = join(mailQueueDir(config), `${stamp}-${randomBytes(4).toString('hex')}.eml`)
  writeStateFile(config, file, message)
  return file
}

export const subjectOf = (message: string) => /^Subject: (.*)$/m.exec(message)?.[1]?.trim() ?? '(no subject)'

/**
 * Offers each queued message to `send`, oldest first; stops at the first refusal (the relay is
 * still down). One flusher at a time, so two runs never send the same message.
 */
export async function flushMailQueue(config: Config, send: (message: string) => Promise<boolean>): Promise<{ sent: number; left: number }> {
  const files = queuedMail(config)
  if (files.length === 0) return { sent: 0, left: 0 }
  ensureStateDir(config, mailQueueDir(config))
  let lock
  try {
    lock = acquireLock(join(mailQueueDir(config), '.lock'), { holder: 'another run sending queued mail' })
  } catch (err) {
    if (err instanceof BusyError) return { sent: 0, left: files.length }
    throw err
  }
  let sent = 0
  try {
    for (const name of queuedMail(config)) {
      const file = join(mailQueueDir(config), name)
      const message = readStateFile(file)
      if (message === undefined) continue
      if (!(await send(message))) break
      rmSync(file, { force: true })
      sent++
    }
  } finally {
    lock.release()
  }
  return { sent, left: queuedMail(config).length }
}

/** One line for `report`, only when mail waits. */
export function renderMailQueue(queue: { queued: number; oldest: string | null }): string {
  if (queue.queued === 0) return ''
  return `\nMAIL: ${queue.queued} queued since ${queue.oldest?.slice(0, 16).replace('T', ' ')} UTC; the next report or notify retries\n`
}

export function renderMailQueueMetrics(queue: { queued: number }): string {
  return `# HELP famlab_mail_queued Mails sendmail refused, waiting in <state>/mail-queue for the next run.\n# TYPE famlab_mail_queued gauge\nfamlab_mail_queued ${queue.queued}\n`
}
