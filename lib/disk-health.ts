// What a node tells the family about its own disk, so `report --json` on any node can warn
// about every node: its usage trend (storage_forecast) and btrfs's error counters (disk_errors).
// `btrfs device stats` needs root, and serve runs as ssh.user: report (root, hourly) keeps the
// counters in <state>/device-stats.json, and serve passes on what it found there.
import { join } from 'node:path'
import { parseDeviceStats, usageSamples, type DeviceError, type UsageSample } from './agreement.ts'
import { isBtrfs } from './btrfs.ts'
import type { Config } from './config.ts'
import type { Context } from './context.ts'
import { run } from './exec.ts'
import { readHistory } from './history.ts'
import { state } from './paths.ts'
import { readJsonFile, writeStateFile } from './state.ts'

export type DeviceStats = { time: string; errors: DeviceError[] }

export type DiskReport = {
  /** Usage samples of the last 30 days, the last of each UTC day: the forecast's data. */
  usage_samples: UsageSample[]
  /** The btrfs error counters above zero at the last report; null on another filesystem or before one. */
  device_stats: DeviceStats | null
}

const deviceStatsFile = (config: Config) => join(config.state, 'device-stats.json')

/** Runs `btrfs device stats` (root) and keeps the result for serve; undefined when root is not btrfs. */
export async function checkDeviceStats(ctx: Context): Promise<DeviceError[] | undefined> {
  if (!isBtrfs(ctx.config.root)) return undefined
  const stats = await run(['btrfs', 'device', 'stats', ctx.config.root])
  if (!stats.ok) return undefined
  const errors = parseDeviceStats(stats.stdout)
  try {
    writeStateFile(ctx.config, deviceStatsFile(ctx.config), `${JSON.stringify({ time: ctx.clock.now().toISOString(), errors })}\n`)
  } catch (err) {
    ctx.log.warn('report', `could not keep the disk's error counters for the family: ${(err as Error).message}`)
  }
  return errors
}

/** One sample per UTC day keeps a status reply small; the trend needs no more. */
export function dailySamples(samples: UsageSample[], now: Date, days = 30): UsageSample[] {
  const since = now.getTime() - days * 86400_000
  const byDay = new Map<string, UsageSample>()
  for (const s of samples) if (Date.parse(s.time) >= since) byDay.set(s.time.slice(0, 10), s)
  return [...byDay.values()].sort((a, b) => a.time.localeCompare(b.time))
}

/** For `serve status`: cheap, readable by ssh.user. */
export function readDiskReport(config: Config, now: Date): DiskReport {
  return {
    usage_samples: dailySamples(usageSamples(readHistory(state(config).history)), now),
    device_stats: readJsonFile<DeviceStats>(deviceStatsFile(config)) ?? null,
  }
}

/** This node's counters as the last report found them (null: not btrfs, or no report yet). */
export function readDeviceErrors(config: Config): DeviceError[] | null {
  return readJsonFile<DeviceStats>(deviceStatsFile(config))?.errors ?? null
}
