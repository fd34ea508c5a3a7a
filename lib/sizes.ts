// The size of each complete replica, for `restore --list`. Complete replicas never change, so a
// size is measured once and kept in `.sizes.json` beside them (rewritten when the set changes).
// Replicas root's btrfs receive wrote (send mode) keep their owners, out of ssh.user's reach:
// the root side measures those (`serve-root sizes`), as it reads them for restore and verify.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseSnapshotName } from './clock.ts'
import type { Config } from './config.ts'
import { run } from './exec.ts'
import { storage } from './paths.ts'
import { rootCommand, rootReceiver, writtenByRoot } from './receive-send.ts'
import { listSnapshots } from './snapshots.ts'

export type ReplicaSize = { bytes: number; files: number }
export type ReplicaEntry = ReplicaSize & { name: string; time: string }

const CACHE = '.sizes.json'

/** Apparent sizes, every name once: what a restore brings back. Undefined when find could not read it all. */
export async function measureReplica(dir: string): Promise<ReplicaSize | undefined> {
  const found = await run(['find', dir, '-xdev', '!', '-type', 'd', '-printf', '%s\\n'])
  if (!found.ok) return undefined
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

/** The root side's sizes of `names` (one sudo for all of them); none when it cannot answer. */
async function rootMeasured(config: Config, origin: string, names: string[]): Promise<Record<string, ReplicaSize>> {
  const receiver = rootReceiver(config)
  if (!receiver || names.length === 0) return {}
  const measured = await run(rootCommand(receiver, origin, ['sizes', names.join(',')]))
  try {
    return measured.ok ? JSON.parse(measured.stdout) : {}
  } catch {
    return {}
  }
}

/**
 * `origin`'s complete replicas held here, oldest first, with their time, bytes and file count.
 * A size that could not be measured shows as 0 and is not kept, so the next listing measures it
 * again; so is a kept 0 files, which famlab recorded for every send-mode replica before the root
 * side measured them (an empty replica costs nothing to count again).
 */
export async function listReplicaSizes(config: Config, origin: string): Promise<ReplicaEntry[]> {
  const originDir = storage(config).replicasOf(origin)
  const file = join(originDir, CACHE)
  const cached = readCache(file)
  const names = listSnapshots(originDir)
  const unmeasured = names.filter((name) => !((cached[name]?.files ?? 0) > 0))
  const byRoot = await rootMeasured(config, origin, unmeasured.filter((name) => writtenByRoot(originDir, name)))
  const sizes: Record<string, ReplicaSize> = {}
  const kept: Record<string, ReplicaSize> = {}
  for (const name of names) {
    const size = unmeasured.includes(name) ? byRoot[name] ?? (await measureReplica(join(originDir, name))) : cached[name]
    sizes[name] = size ?? { bytes: 0, files: 0 }
    if (size) kept[name] = size
  }
  if (JSON.stringify(kept) !== JSON.stringify(cached) && existsSync(originDir)) {
    const temp = `${file}.${process.pid}.tmp`
    writeFileSync(temp, JSON.stringify(kept), { mode: 0o600 })
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
