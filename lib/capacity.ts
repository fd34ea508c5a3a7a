// The capacity agreement: `capacity.local_fraction` of the disk for this household (local/,
// Time Machine), the rest offered to the family's replicas. Pure arithmetic plus statfs.
import { statfsSync } from 'node:fs'
import type { Config } from './config.ts'

export type Disk = { total_bytes: number; free_bytes: number }

const UNITS = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40, P: 2 ** 50 } as const

/** `500G`, `1.5T` (binary units, as Samba and btrfs read them) → bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMGTP])$/.exec(text)
  if (!m) throw new Error(`"${text}" is not a size like 500G or 1T`)
  return Math.floor(Number(m[1]) * UNITS[m[2] as keyof typeof UNITS])
}

/** Whole mebibytes, rounded down: a limit written this way never exceeds the bytes given. */
export function formatSizeMiB(bytes: number): string {
  return `${Math.floor(bytes / UNITS.M)}M`
}

export function readDisk(path: string): Disk | undefined {
  try {
    const fs = statfsSync(path)
    return { total_bytes: fs.blocks * fs.bsize, free_bytes: fs.bavail * fs.bsize }
  } catch {
    return undefined
  }
}

/** The household's share of the disk: the qgroup limit on local/. */
export function householdBytes(config: Config, disk: Disk): number {
  return Math.floor(disk.total_bytes * config.capacity.local_fraction)
}

/** What this node offers to the family's replicas. */
export function offeredBytes(config: Config, disk: Disk): number {
  return disk.total_bytes - householdBytes(config, disk)
}

/** `fruit:time machine max size`: the configured size, never more than the household's share. */
export function timeMachineMaxSize(config: Config, disk: Disk | undefined): string {
  const configured = parseSize(config.timemachine.max_size)
  if (!disk || householdBytes(config, disk) >= configured) return config.timemachine.max_size
  return formatSizeMiB(householdBytes(config, disk))
}

/**
 * Room for one origin's next transfer: within what is offered to the family (less what all
 * replicas already use) and within what the filesystem really has free.
 */
export function roomForPeers(offered: number, usedByReplicas: number, freeOnDisk: number): number {
  return Math.max(0, Math.min(offered - usedByReplicas, freeOnDisk))
}
