// The one clock: FAMLAB_NOW (ISO 8601 UTC) replaces the system time everywhere.
import { UsageError } from './exit.ts'

export type Clock = {
  now(): Date
  /** Waits; a FAMLAB_NOW clock only moves forward instead, so tests never wait. */
  sleep(ms: number): Promise<void>
}

export function createClock(env: NodeJS.ProcessEnv): Clock {
  const fixed = env.FAMLAB_NOW
  if (!fixed) return { now: () => new Date(), sleep: (ms) => new Promise((done) => setTimeout(done, ms)) }
  let time = Date.parse(fixed)
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?Z$/.test(fixed) || Number.isNaN(time)) {
    throw new UsageError(`FAMLAB_NOW: "${fixed}" is not an ISO 8601 UTC time such as 2026-11-23T10:00:00Z`)
  }
  return {
    now: () => new Date(time),
    sleep: async (ms) => {
      time += ms
    },
  }
}

const SNAPSHOT_NAME = /^(\d{4})-(\d\d)-(\d\d)T(\d\d)(\d\d)(\d\d)Z$/

/** `2026-11-23T101500Z`: sortable, one path component, UTC. */
export function snapshotName(time: Date): string {
  return time.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '')
}

export function isSnapshotName(name: string): boolean {
  return parseSnapshotName(name) !== undefined
}

export function parseSnapshotName(name: string): Date | undefined {
  const m = SNAPSHOT_NAME.exec(name)
  if (!m) return undefined
  const time = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`)
  return Number.isNaN(time.getTime()) || snapshotName(time) !== name ? undefined : time
}

/** Parses durations like `24h`, `30m`, `7d`, `90s` into milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)(s|m|h|d|w)$/.exec(text)
  if (!m) return undefined
  const unit = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as 's']
  return Number(m[1]) * unit * 1000
}
