// <state>/events.jsonl: things the admin should know that are not failures (a member joined or
// left), one JSON object a line: {time, kind, node, message}. Appended, never rewritten.
import { appendFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Config } from './config.ts'
import { chownToServiceUser, ensureStateDir, readStateFile } from './state.ts'

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
