// When each peer last answered, and the health it reported then: `report` shows the last known
// state of a peer that is down, and peer_offline counts from the last answer of any request.
import { join } from 'node:path'
import type { Config } from './config.ts'
import type { Context } from './context.ts'
import type { NodeHealth } from './health.ts'
import { readJsonFile, writeStateFile } from './state.ts'

export type Contact = { last_seen: string; health?: NodeHealth; health_time?: string }

const contactsFile = (config: Config) => join(config.state, 'contacts.json')

export function readContacts(config: Config): Record<string, Contact> {
  return readJsonFile<Record<string, Contact>>(contactsFile(config)) ?? {}
}

/** Called for every answered request; a health report comes only from `status`. */
export function recordContact(ctx: Context, peer: string, health?: NodeHealth): void {
  const time = ctx.clock.now().toISOString()
  const contacts = readContacts(ctx.config)
  const previous = contacts[peer]
  contacts[peer] = health ? { last_seen: time, health, health_time: time } : { ...previous, last_seen: time }
  try {
    writeStateFile(ctx.config, contactsFile(ctx.config), `${JSON.stringify(contacts, null, 1)}\n`)
  } catch (err) {
    // Bookkeeping: the request it records has succeeded and must not fail because of it.
    ctx.log.warn('contacts', `could not record contact with ${peer}: ${(err as Error).message}`)
  }
}
