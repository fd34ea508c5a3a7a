// Checks that a peer's replicas match the local snapshots they came from, by checksum: the
// replica is pulled onto the snapshot with --dry-run, through serve, so nothing is written.
import { randomInt } from 'node:crypto'
import type { Context } from './context.ts'
import { run } from './exec.ts'
import { listFiles } from './files.ts'
import type { Outcome } from './history.ts'
import { parseItemized, type Difference } from './itemize.ts'
import { storage } from './paths.ts'
import { readerFor, replicaNamesFor } from './restore.ts'
import { classifyRsyncExit, pullCommand } from './rsync.ts'
import { listSnapshots } from './snapshots.ts'
import { hostAlias, sshCommand } from './ssh.ts'

export type SnapshotCheck = { snapshot: string; result: Outcome; message: string; differences: Difference[] }

/** `percent` of the snapshot's files, at least one, picked at random. */
export function sampleFiles(files: string[], percent: number): string[] {
  const pool = files.slice()
  const wanted = Math.min(pool.length, Math.max(1, Math.ceil((pool.length * percent) / 100)))
  for (let i = 0; i < wanted; i++) {
    const j = i + randomInt(pool.length - i)
    ;[pool[i], pool[j]] = [pool[j], pool[i]]
  }
  return pool.slice(0, wanted).sort()
}

/** The snapshots to check on a peer: those both sides hold, newest only unless `all`. */
export function snapshotsToVerify(local: string[], held: string[], all: boolean): string[] {
  const common = local.filter((s) => held.includes(s))
  return all ? common : common.slice(-1)
}

export async function compareReplica(ctx: Context, peer: string, snapshot: string, percent?: number): Promise<SnapshotCheck> {
  const source = storage(ctx.config).snapshot(snapshot)
  const sample = percent === undefined ? undefined : sampleFiles(listFiles(source), percent)
  const command = pullCommand(hostAlias(peer), `${snapshot}/`, `${source}/`, {
    ssh: sshCommand(ctx.config),
    bwlimitKbps: ctx.config.replication.bwlimit_kbps,
    timeoutS: ctx.config.replication.timeout_s,
    progress: false,
    extra: ['--checksum', '--dry-run', '--itemize-changes', ...(sample ? ['--files-from=-', '--from0'] : ['--delete'])],
  })
  const compared = await run(command, { input: sample ? sample.map((f) => `${f}\0`).join('') : '' })
  const scope = sample ? `${sample.length} sampled files` : 'every file'
  if (!compared.ok) {
    const { result, message } = classifyRsyncExit(compared.code)
    return { snapshot, result, message: `could not compare: ${message}`, differences: [] }
  }
  const differences = parseItemized(compared.stdout)
  const message = differences.length ? `${differences.length} differences in ${scope}` : `${scope} match`
  return { snapshot, result: differences.length ? 'failed' : 'ok', message, differences }
}

export type PeerCheck = { peer: string; result: Outcome; message: string; checks: SnapshotCheck[] }

export async function verifyPeer(ctx: Context, peer: string, options: { all: boolean; percent?: number }): Promise<PeerCheck> {
  const held = await replicaNamesFor(ctx, readerFor(ctx, undefined, undefined), peer)
  if (held.outcome !== 'ok') return { peer, result: held.outcome, message: held.message, checks: [] }
  const local = listSnapshots(storage(ctx.config).snapshots)
  const snapshots = snapshotsToVerify(local, held.data, options.all)
  if (snapshots.length === 0) return { peer, result: 'skipped', message: 'holds none of the local snapshots yet', checks: [] }
  const checks: SnapshotCheck[] = []
  for (const snapshot of snapshots) checks.push(await compareReplica(ctx, peer, snapshot, options.percent))
  const bad = checks.filter((c) => c.result !== 'ok')
  const lagging = local.at(-1) !== snapshots.at(-1) ? `; it does not hold ${local.at(-1)} yet` : ''
  return {
    peer,
    result: bad.find((c) => c.result !== 'failed')?.result ?? (bad.length ? 'failed' : 'ok'),
    message: `${checks.map((c) => `${c.snapshot}: ${c.message}`).join(', ')}${lagging}`,
    checks,
  }
}
