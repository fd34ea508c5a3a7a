// The size of each complete replica, for `restore --list`. Complete replicas never change, so a
// size is measured once and kept in `.sizes.json` beside them (rewritten when the set changes).
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseSnapshotName } from './clock.ts'
import { run } from './exec.ts'
import { listSnapshots } from './snapshots.ts'

export type ReplicaSize = { bytes: number; files: number }
export type ReplicaEntry = ReplicaSize & { name: string; time: string }

const CACHE = '.sizes.json'

async function measure(dir: string): Promise<ReplicaSize> {
  // Apparent sizes, every name once: what a restore brings back.
  const found = await run(['find', dir, '-xdev', '!', '-type', 'd', '-printf', '%s\\n'])
  const sizes = found.stdout.split('\n').filter((l) => l !== '')
  return { bytes: sizes.reduce((sum, s) => sum + Number(s), 0), files: sizes.length }
}

function readCache(file: string): Record<string, ReplicaSize> {
  try {
    return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {}
  } catch {
    return {}
  }
}

/** The complete replicas in `originDir`, oldest first, with their time, bytes and file count. */
export async function listReplicaSizes(originDir: string): Promise<ReplicaEntry[]> {
  const file = join(originDir, CACHE)
  const cached = readCache(file)
  const sizes: Record<string, ReplicaSize> = {}
  for (const name of listSnapshots(originDir)) sizes[name] = cached[name] ?? (await measure(join(originDir, name)))
  if (JSON.stringify(sizes) !== JSON.stringify(cached) && existsSync(originDir)) {
    const temp = `${file}.${process.pid}.tmp`
    writeFileSync(temp, JSON.stringify(sizes), { mode: 0o600 })
    renameSync(temp, file)
  }
  return Object.entries(sizes).map(([name, size]) => ({ name, time: parseSnapshotName(name)!.toISOString(), ...size }))
}

/** 1536 → "1.5 KiB": sizes for people. */
export function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`
}
