// What a bare target holds of this node, for report and restore: its complete snapshots (sizes
// measured once and kept in <state>/targets-sizes.json, since a complete snapshot never changes),
// its filesystem's size and free space, and when it last answered (<state>/targets-seen.json).
import { join } from 'node:path'
import { isSnapshotName, parseSnapshotName } from './clock.ts'
import type { Context } from './context.ts'
import type { Outcome } from './history.ts'
import { INCOMPLETE } from './paths.ts'
import type { HolderStatus } from './receive.ts'
import type { ReplicaEntry, ReplicaSize } from './sizes.ts'
import type { PeerReply } from './ssh.ts'
import { readJsonFile, writeStateFile } from './state.ts'
import { runOnTarget } from './target-store.ts'
import { targetAlias, targetDir, targetSsh, type Target } from './targets.ts'

export type TargetHolding = {
  /** Complete snapshots of this node on the target, oldest first. */
  snapshots: string[]
  incomplete: boolean
  total_bytes: number
  free_bytes: number
}

export type TargetSeen = { last_seen: string; holding: TargetHolding; newest_size?: ReplicaSize }

type Failure = { outcome: 'offline' | 'refused' | 'failed'; message: string }

const failure = (outcome: Outcome, message: string): Failure => ({ outcome: outcome === 'offline' || outcome === 'refused' ? outcome : 'failed', message })

const seenFile = (ctx: Context) => join(ctx.config.state, 'targets-seen.json')
const sizesFile = (ctx: Context) => join(ctx.config.state, 'targets-sizes.json')

export const readTargetsSeen = (ctx: Context): Record<string, TargetSeen> => readJsonFile(seenFile(ctx)) ?? {}

/** `ls -1A` of this node's directory, a separator, then `df -Pk .` there. */
export function parseProbe(stdout: string): TargetHolding | undefined {
  const [listing, df] = stdout.split('--- df\n')
  if (df === undefined) return undefined
  const fields = df.trim().split('\n').at(-1)?.trim().split(/\s+/) ?? []
  const total = Number(fields[1]) * 1024
  const free = Number(fields[3]) * 1024
  if (!Number.isFinite(total) || !Number.isFinite(free) || fields.length < 4) return undefined
  const entries = listing.split('\n').filter(Boolean)
  return { snapshots: entries.filter(isSnapshotName).sort(), incomplete: entries.includes(INCOMPLETE), total_bytes: total, free_bytes: free }
}

/** `NAME BYTES FILES` lines, one per measured snapshot. */
export function parseSizes(stdout: string): Record<string, ReplicaSize> {
  const sizes: Record<string, ReplicaSize> = {}
  for (const line of stdout.split('\n')) {
    const [name, bytes, files] = line.trim().split(/\s+/)
    if (isSnapshotName(name ?? '') && /^\d+$/.test(bytes ?? '') && /^\d+$/.test(files ?? '')) sizes[name] = { bytes: Number(bytes), files: Number(files) }
  }
  return sizes
}

export async function probeTarget(ctx: Context, target: Target, timeoutMs?: number): Promise<{ ok: true; holding: TargetHolding } | ({ ok: false } & Failure)> {
  const reply = await runOnTarget(ctx, target, "ls -1A && echo '--- df' && df -Pk .", timeoutMs)
  if (!reply.ok) return { ok: false, ...failure(reply.outcome, reply.message) }
  const holding = parseProbe(reply.stdout)
  if (!holding) return { ok: false, outcome: 'failed', message: 'unreadable answer to ls and df' }
  return { ok: true, holding }
}

/**
 * Apparent bytes and files (what a restore brings back) of the `wanted` snapshots, measured once
 * each; what is remembered is trimmed to the `complete` ones the target holds now.
 */
export async function targetSnapshotSizes(ctx: Context, target: Target, complete: string[], wanted = complete): Promise<{ ok: true; sizes: Record<string, ReplicaSize> } | ({ ok: false } & Failure)> {
  const all = readJsonFile<Record<string, Record<string, ReplicaSize>>>(sizesFile(ctx)) ?? {}
  const known = all[target.name] ?? {}
  const missing = wanted.filter((n) => !known[n])
  if (missing.length > 0) {
    // Snapshot names are validated, so they need no quoting. GNU find, as on any Debian box.
    const script = missing.map((n) => `printf '%s ' ${n} && find ${n} ! -type d -printf '%s\\n' | awk '{b+=$1} END {print b+0, NR}'`).join(' && ')
    const measured = await runOnTarget(ctx, target, script)
    if (!measured.ok) return { ok: false, ...failure(measured.outcome, measured.message) }
    Object.assign(known, parseSizes(measured.stdout))
  }
  const kept = Object.fromEntries(complete.filter((n) => known[n]).map((n) => [n, known[n]]))
  writeStateFile(ctx.config, sizesFile(ctx), `${JSON.stringify({ ...all, [target.name]: kept })}\n`)
  return { ok: true, sizes: Object.fromEntries(wanted.filter((n) => known[n]).map((n) => [n, known[n]])) }
}

/** Probes a target and remembers what it said; a target that does not answer keeps its last word. */
export async function observeTarget(ctx: Context, target: Target, timeoutMs?: number): Promise<{ ok: true; seen: TargetSeen } | ({ ok: false } & Failure)> {
  const probe = await probeTarget(ctx, target, timeoutMs)
  if (!probe.ok) return probe
  const newest = probe.holding.snapshots.at(-1)
  const measured = newest ? await targetSnapshotSizes(ctx, target, probe.holding.snapshots, [newest]) : undefined
  const newestSize = newest && measured?.ok ? measured.sizes[newest] : undefined
  const seen: TargetSeen = { last_seen: ctx.clock.now().toISOString(), holding: probe.holding, ...(newestSize ? { newest_size: newestSize } : {}) }
  writeStateFile(ctx.config, seenFile(ctx), `${JSON.stringify({ ...readTargetsSeen(ctx), [target.name]: seen }, null, 1)}\n`)
  return { ok: true, seen }
}

// restore treats a target like a peer: the same replies, from plain ssh commands.

export async function targetHolderStatus(ctx: Context, target: Target): Promise<PeerReply<HolderStatus>> {
  const probe = await probeTarget(ctx, target)
  if (!probe.ok) return probe
  const { snapshots, incomplete, total_bytes, free_bytes } = probe.holding
  return { outcome: 'ok', data: { node: target.name, version: 0, origin: ctx.config.node, replicas: snapshots, incomplete, filesystem: 'other', total_bytes, free_bytes } }
}

export async function targetReplicaList(ctx: Context, target: Target): Promise<PeerReply<ReplicaEntry[]>> {
  const probe = await probeTarget(ctx, target)
  if (!probe.ok) return probe
  const measured = await targetSnapshotSizes(ctx, target, probe.holding.snapshots)
  if (!measured.ok) return measured
  const { sizes } = measured
  return {
    outcome: 'ok',
    data: probe.holding.snapshots.filter((n) => sizes[n]).map((name) => ({ name, time: parseSnapshotName(name)!.toISOString(), ...sizes[name] })),
  }
}

/** Where rsync pulls a snapshot from on a target: the plain account, owners and modes from its xattrs. */
export function targetPullSource(ctx: Context, target: Target, snapshot: string): { remote: string; path: string; ssh: string[]; extra: string[] } {
  return { remote: targetAlias(target.name), path: `${targetDir(ctx.config, target)}/${snapshot}/`, ssh: targetSsh(ctx.config), extra: ['--rsync-path=rsync --fake-super'] }
}
