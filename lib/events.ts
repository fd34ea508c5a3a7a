// <state>/events.jsonl: things the admin should know that are not failures (a member joined or
// left), one JSON object a line: {time, kind, node, message}. Appended, never rewritten.
import { appendFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Config } from './config.ts'
import { fit } from './format.ts'
import type { Mail } from './mail.ts'
import { chownToServiceUser, ensureStateDir, readJsonFile, readStateFile, writeStateFile } from './state.ts'

export type FamilyEvent = { time: string; kind: string; node: string; message: string }

export const eventsFile = (config: Config) => join(config.state, 'events.jsonl')

export function appendEvent(config: Config, event: FamilyEvent): void {
  const file = eventsFile(config)
  ensureStateDir(config, config.state)
  const isNew = !existsSync(file)
  appendFileSync(file, `${JSON.stringify(event)}\n`, { mode: 0o600 })
  if (isNew) chownToServiceUser(config, file)
}

export function readEvents(config: Config): FamilyEvent[] {
  return (readStateFile(eventsFile(config)) ?? '').split('\n').flatMap((line) => {
    try {
      return line.trim() ? [JSON.parse(line) as FamilyEvent] : []
    } catch {
      return []
    }
  })
}

/** membership_changed, when the names in the member list differ (informational, never an alert). */
export function membershipChange(before: string[], after: string[]): string | undefined {
  const joined = after.filter((n) => !before.includes(n))
  const left = before.filter((n) => !after.includes(n))
  if (before.length === 0 || (joined.length === 0 && left.length === 0)) return undefined
  return [joined.length ? `joined: ${joined.join(', ')}` : '', left.length ? `left: ${left.join(', ')}` : ''].filter(Boolean).join('; ')
}

// In report and mail: informational, never an alert.

const mailedFile = (config: Config) => join(config.state, 'events-mailed.json')

/**
 * Events no mail has told yet: events.jsonl is append-only, so a count of lines mailed marks them.
 * The first report sets the mark: what happened before it (setting up the family) is not news.
 */
export function eventsToMail(config: Config): { events: FamilyEvent[]; through: number } {
  const events = readEvents(config)
  const mailed = readJsonFile<{ lines: number }>(mailedFile(config))?.lines
  if (mailed === undefined) markEventsMailed(config, events.length)
  return { events: events.slice(Math.min(mailed ?? events.length, events.length)), through: events.length }
}

export function markEventsMailed(config: Config, through: number): void {
  writeStateFile(config, mailedFile(config), `${JSON.stringify({ lines: through })}\n`)
}

/** One mail for all the events since the last one told (report --mail). */
export function eventsMail(to: string, node: string, events: FamilyEvent[]): Mail {
  const subject = events.length === 1 ? `${events[0].kind}: ${events[0].message}` : `${events.length} family events`
  const body = [
    'For your information (not an alert): what changed in the family, as recorded in events.jsonl.',
    '',
    ...events.map((e) => `${e.time}  ${e.kind}  ${e.message}`),
  ]
  return { to, subject: fit(`[famlab ${node}] ${subject}`, 160), body: body.join('\n') }
}

/** The last few events for `report`, each line within 80 columns. */
export function renderEvents(events: FamilyEvent[]): string {
  if (events.length === 0) return ''
  const lines = events.map((e) => fit(`  ${e.time.slice(0, 16).replace('T', ' ')} ${e.kind}: ${e.message}`, 80))
  return `\nEVENTS (for information; all of them in events.jsonl)\n${lines.join('\n')}\n`
}
