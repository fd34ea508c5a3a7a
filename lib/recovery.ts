// The recovery guard: a wiped or gutted local/ must never be snapshotted and replicated over the
// family's copies. Evidence of a loss is the newest local snapshot, or, when the disk was
// replaced and snapshots/ is gone too, a peer holding a newer history of this node than we do.
import type { Context } from './context.ts'
import { FamlabError } from './exit.ts'
import { countFiles } from './files.ts'
import { recordStep } from './history.ts'
import type { Member } from './members.ts'
import { storage } from './paths.ts'
import { pullSnapshot, readerFor, replicaNamesFor } from './restore.ts'
import { listSnapshots, newestSnapshot } from './snapshots.ts'
import { SOURCES_DIR } from './sources.ts'
import { readStatus, updateStatus } from './status.ts'

/** Why local/ looks lost by its own history, or undefined. Counts stop at twice local/'s. */
export function localLoss(ctx: Context): string | undefined {
  const paths = storage(ctx.config)
  const newest = newestSnapshot(paths.snapshots)
  if (!newest) return undefined
  const localFiles = countFiles(paths.local)
  // The configured sources sit beside local/'s files in a snapshot, not in local/.
  const snapshotFiles = countFiles(paths.snapshot(newest), 2 * localFiles + 1, [SOURCES_DIR])
  if (localFiles === 0 && snapshotFiles > 0) return `local/ is empty, but the newest snapshot ${newest} holds files`
  if (localFiles * 2 < snapshotFiles) return `local/ holds ${localFiles} files, under half of those in the newest snapshot ${newest}`
  return undefined
}

type Holding = { peer: string; newest: string; count: number }

/** What each reachable peer holds of this node; unreachable peers are left out. */
async function holdings(ctx: Context, peers: Member[]): Promise<Holding[]> {
  const found: Holding[] = []
  for (const peer of peers) {
    const reply = await replicaNamesFor(ctx, readerFor(ctx, undefined, undefined), peer.name)
    const newest = reply.outcome === 'ok' ? reply.data.at(-1) : undefined
    if (reply.outcome === 'ok' && newest) found.push({ peer: peer.name, newest, count: reply.data.length })
  }
  return found
}

/** An empty local/ while a peer holds a history of this node that snapshots/ lacks: a new disk. */
async function lossSeenByPeers(ctx: Context, peers: Member[]): Promise<string | undefined> {
  const paths = storage(ctx.config)
  if (countFiles(paths.local, 1) > 0) return undefined
  const ours = new Set(listSnapshots(paths.snapshots))
  const held = (await holdings(ctx, peers)).find((h) => !ours.has(h.newest))
  return held && `local/ is empty while ${held.peer} holds ${held.count} snapshots of this node up to ${held.newest}`
}

/** recovery.auto: restores local/ from the peer holding the newest snapshot of this node. */
async function recoverLocal(ctx: Context, peers: Member[], reason: string): Promise<void> {
  const best = (await holdings(ctx, peers)).sort((a, b) => b.newest.localeCompare(a.newest))[0]
  if (!best) throw new FamlabError(`recovery needed: ${reason}, and no peer holding this node's data is reachable`)
  ctx.log.warn('recovery', `${reason}; restoring local/ from ${best.newest} (recovery.auto)`, best.peer)
  const local = storage(ctx.config).local
  const job = { peer: best.peer, origin: ctx.config.node, snapshot: best.newest, target: local, force: true, started: ctx.clock.now().toISOString() }
  const pulled = await pullSnapshot(ctx, readerFor(ctx, undefined, undefined), job)
  recordStep(ctx, { step: 'recovery', peer: best.peer, snapshot: best.newest, result: pulled.result, bytes: pulled.bytes, message: pulled.message })
  if (pulled.result !== 'ok') throw new FamlabError(`recovery needed: ${reason}; restoring from ${best.peer} failed: ${pulled.message}`)
}

/** The guard's refusal: backup records it as the reason, so report raises recovery_needed. */
export class RecoveryNeededError extends FamlabError {}

/** Runs before every snapshot in backup. Throws (exit 1, recovery_needed) unless local/ looks whole. */
export async function guardLocalData(ctx: Context, peers: Member[], force: boolean): Promise<void> {
  const reason = localLoss(ctx) ?? (await lossSeenByPeers(ctx, peers))
  if (reason && force) {
    ctx.log.warn('recovery', `${reason}; going ahead as asked (--force)`)
    recordStep(ctx, { step: 'recovery-guard', result: 'skipped', message: `${reason}; --force` })
  } else if (reason && ctx.config.recovery.auto) {
    await recoverLocal(ctx, peers, reason)
  } else if (reason) {
    recordStep(ctx, { step: 'recovery-guard', result: 'refused', message: reason })
    const since = readStatus(ctx).recovery_needed?.since ?? ctx.clock.now().toISOString()
    updateStatus(ctx, { recovery_needed: { since, message: reason } })
    throw new RecoveryNeededError(
      `recovery needed: ${reason}; nothing was snapshotted, replicated or pruned`,
      `Bring it back with famlab restore --list and famlab restore --from PEER --to ${storage(ctx.config).local} (add --force if it still holds files), or run famlab backup --force if the loss is intended.`,
    )
  }
  updateStatus(ctx, { recovery_needed: undefined })
}
