#!/usr/bin/env tsx
// famlab backup: the whole run under one lock — snapshot, replicate, prune, history.
// Exit 0 done, 3 some peers unreachable, 1 failed, 2 bad config, 75 busy.
import { runCommand } from '../lib/cli.ts'
import { choosePeers, refuseOverAllowance } from '../lib/copies.ts'
import type { Context } from '../lib/context.ts'
import { EXIT, runIfMain } from '../lib/exit.ts'
import { agreeOnMembership, requireMembership } from '../lib/family.ts'
import { recordStep, stopwatch } from '../lib/history.ts'
import { withLock } from '../lib/lock.ts'
import { peersOf } from '../lib/members.ts'
import { state } from '../lib/paths.ts'
import { pruneAll } from '../lib/prune.ts'
import type { HolderStatus } from '../lib/receive.ts'
import { guardLocalData, RecoveryNeededError } from '../lib/recovery.ts'
import { replicateSnapshot, replicationExitCode, type PeerResult } from '../lib/replicate.ts'
import { takeSnapshot } from '../lib/snapshots.ts'
import { closeSharedSsh, sharedSshCommand } from '../lib/ssh.ts'
import { checkSources } from '../lib/sources.ts'
import { pruneTargets, replicateToTargets } from '../lib/target-store.ts'
import { saveBackupStatus } from '../lib/status.ts'
import { waitForQuiet } from '../lib/timemachine.ts'
import { recordUsageSample } from '../lib/usage.ts'

const usage = `
famlab backup [--force] [--config FILE]

One complete backup run, under the node lock:
  guard      refuses when local/ is empty or lost over half its files while the family
             holds its history (alert recovery_needed); --force when the loss is intended
  snapshot   read-only btrfs snapshot of local/
  replicate  the snapshot to every peer (or, with family.copies, the peers placed for it)
             and bare target (rsync --link-dest over SSH); refused when over the allowance
  prune      retention on snapshots/, replicas/ and targets, only if the run did not fail
Before the snapshot it waits (checking every minute, up to timemachine.wait_minutes) until
no Mac or PC is writing: see famlab tm-idle.
Each step is recorded in <state>/history.jsonl; the outcome in <state>/status.json.

Exit codes: 0 every peer has the snapshot, 3 some peers unreachable (systemd: success),
1 failed, 2 bad config, 75 another famlab run holds the lock or Time Machine stayed busy.
Example: famlab backup
`

const RESULT_WORD = { [EXIT.ok]: 'ok', [EXIT.partial]: 'partial' } as Record<number, 'ok' | 'partial'>

async function backup(ctx: Context, force: boolean): Promise<number> {
  const elapsed = stopwatch()
  const membership = requireMembership(ctx.config)
  let snapshot: string | undefined
  let results: PeerResult[] = []
  // Wait until no Mac or PC is writing (75, nothing changed, past timemachine.wait_minutes)
  await waitForQuiet(ctx)

  try {
    // Recovery guard: never snapshot, and so spread, a wiped local/
    await guardLocalData(ctx, peersOf(membership, ctx.config.node), force)

    // Snapshot
    snapshot = await takeSnapshot(ctx)
    recordStep(ctx, { step: 'snapshot', snapshot, result: 'ok' })
    ctx.log.info('snapshot', snapshot)

    // Replicate to the peers holding this node's copies, within the family agreement, and to bare targets
    const chosen = await choosePeers(ctx, membership)
    try {
      const peers = await agreeOnMembership<HolderStatus>(ctx, chosen, sharedSshCommand(ctx.config))
      const refused = refuseOverAllowance(ctx, requireMembership(ctx.config), snapshot, peers)
      results = [...(refused ?? await replicateSnapshot(ctx, snapshot, peers)), ...await replicateToTargets(ctx, snapshot)]
    } finally {
      await closeSharedSsh(ctx.config, chosen.map((peer) => peer.name))
    }
    const code = replicationExitCode(results)

    // Prune, never after a failed run
    if (code !== EXIT.failed) {
      const pruned = [...await pruneAll(ctx), ...await pruneTargets(ctx)]
      const removed = pruned.reduce((n, r) => n + r.removed.length, 0)
      recordStep(ctx, { step: 'prune', result: 'ok', message: `removed ${removed} snapshots` })
    }

    recordUsageSample(ctx)
    const result = RESULT_WORD[code] ?? 'failed'
    const message = results.filter((r) => r.result !== 'ok' && r.result !== 'up-to-date').map((r) => `${r.peer}: ${r.result}`).join(', ') || 'all peers have it'
    recordStep(ctx, { step: 'backup', snapshot, result, seconds: elapsed(), message })
    saveBackupStatus(ctx, { time: ctx.clock.now().toISOString(), exit_code: code, result, snapshot, message, peers: results, seconds: elapsed() })
    return code
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    recordStep(ctx, { step: 'backup', snapshot, result: 'failed', seconds: elapsed(), message })
    const reason = err instanceof RecoveryNeededError ? 'recovery_needed' as const : undefined
    saveBackupStatus(ctx, { time: ctx.clock.now().toISOString(), exit_code: EXIT.failed, result: 'failed', snapshot, message, peers: results, reason, seconds: elapsed() })
    throw err
  }
}

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage, boolean: ['force'] }, async (ctx, args) => {
    checkSources(ctx.config)
    return withLock(state(ctx.config).lock, () => backup(ctx, args.force))
  })
}

runIfMain(import.meta.url, main)
