// Replication to and retention on a bare target, driven entirely from this node with plain ssh
// commands: the same discipline as a peer's serve — write into .incomplete, link against the
// newest complete snapshot, rename to <snap> only when complete, delete by renaming first.
import type { Context } from './context.ts'
import { change, lastLine, run } from './exec.ts'
import { recordStep, stopwatch, type Outcome } from './history.ts'
import { INCOMPLETE, PRUNING_PREFIX, RESUME, storage } from './paths.ts'
import type { PruneResult } from './prune.ts'
import type { PeerResult } from './replicate.ts'
import { planPrune } from './retention.ts'
import { classifyTransfer, commonFlags, parseStats } from './rsync.ts'
import { classifySshFailure } from './ssh.ts'
import { isSnapshotName } from './clock.ts'
import { loadTargets, targetAlias, targetDir, targetSsh, type Target } from './targets.ts'

type Remote = { ok: true; stdout: string } | { ok: false; outcome: Outcome; message: string }

/**
 * Runs one sh command line in this node's directory on the target. Every word in it is a
 * validated path or snapshot name (see targetProblem), so nothing needs quoting.
 */
export async function runOnTarget(ctx: Context, target: Target, script: string, timeoutMs = Math.min(ctx.config.replication.timeout_s, 600) * 1000): Promise<Remote> {
  const dir = targetDir(ctx.config, target)
  const result = await run([...targetSsh(ctx.config), targetAlias(target.name), `mkdir -p ${dir} && cd ${dir} && { ${script}; }`], { input: '', timeoutMs })
  if (result.ok) return { ok: true, stdout: result.stdout }
  const outcome = classifySshFailure(result.code, result.stderr)
  return { ok: false, outcome: outcome === 'refused' || result.code === 255 ? outcome : 'failed', message: lastLine(result.stderr) || `exit ${result.code}` }
}

export async function listTargetSnapshots(ctx: Context, target: Target): Promise<{ complete: string[]; entries: string[] } | Remote> {
  const listed = await runOnTarget(ctx, target, 'ls -1A')
  if (!listed.ok) return listed
  const entries = listed.stdout.split('\n').filter(Boolean)
  return { complete: entries.filter(isSnapshotName).sort(), entries }
}

// An interrupted .incomplete becomes .resume: a link-dest basis only, never written in place,
// because its files may be hard links into complete snapshots.
const PREPARE = `if [ -d ${INCOMPLETE} ] && [ -n "$(ls -A ${INCOMPLETE})" ]; then rm -rf ${RESUME} && mv ${INCOMPLETE} ${RESUME}; fi && mkdir -p ${INCOMPLETE}`
const finalizeScript = (snap: string) => `test ! -e ${snap} && mv ${INCOMPLETE} ${snap} && rm -rf ${RESUME}`
const removeScript = (name: string) => `mv ${name} ${PRUNING_PREFIX}${name} && rm -rf ${PRUNING_PREFIX}${name}`

async function replicateToTarget(ctx: Context, snap: string, target: Target): Promise<PeerResult> {
  const elapsed = stopwatch()
  const done = (result: Outcome, message: string, bytes?: number): PeerResult => ({ peer: target.name, result, message, bytes, seconds: elapsed() })

  // What the target holds already
  const listing = await listTargetSnapshots(ctx, target)
  if ('ok' in listing) return done(listing.ok ? 'failed' : listing.outcome, listing.ok ? 'unreadable listing' : listing.message)
  if (listing.complete.includes(snap)) return done('up-to-date', `already holds ${snap}`)
  const resuming = listing.entries.includes(INCOMPLETE)

  // Transfer into a fresh .incomplete, linked against the newest complete snapshot
  const prepared = await runOnTarget(ctx, target, PREPARE)
  if (!prepared.ok) return done(prepared.outcome, `cannot prepare ${INCOMPLETE}: ${prepared.message}`)
  ctx.log.info('replicate', `sending ${snap}${resuming ? ' (resuming)' : ''}`, target.name)
  const newest = listing.complete.at(-1)
  const dir = targetDir(ctx.config, target)
  const linkDests = [...(newest ? [`../${newest}`] : []), ...(resuming ? [`../${RESUME}`] : [])]
  const command = [
    'rsync',
    ...commonFlags({ ssh: targetSsh(ctx.config), bwlimitKbps: ctx.config.replication.bwlimit_kbps, timeoutS: ctx.config.replication.timeout_s, progress: ctx.interactive }),
    '--delete', '--rsync-path=rsync --fake-super', ...linkDests.map((d) => `--link-dest=${d}`),
    '--', `${storage(ctx.config).snapshot(snap)}/`, `${targetAlias(target.name)}:${dir}/${INCOMPLETE}/`,
  ]
  const transfer = await run(command, {
    onStdout: ctx.interactive ? (chunk) => process.stderr.write(chunk) : undefined,
    stallMs: ctx.config.replication.timeout_s * 1000,
  })
  const bytes = parseStats(transfer.stdout)?.bytesSent
  if (!transfer.ok) {
    const { result, message } = classifyTransfer(transfer)
    return done(result, `${message}; ${lastLine(transfer.stderr)}`, bytes)
  }

  // Only a finished transfer gets a complete name
  const finalized = await runOnTarget(ctx, target, finalizeScript(snap))
  if (!finalized.ok) return done(finalized.outcome, `transfer done but not finalized: ${finalized.message}`, bytes)
  return done('ok', `${snap} complete`, bytes)
}

export async function replicateToTargets(ctx: Context, snap: string, targets: Target[] = loadTargets(ctx.config)): Promise<PeerResult[]> {
  const results: PeerResult[] = []
  for (const target of targets) {
    const outcome = await replicateToTarget(ctx, snap, target)
    recordStep(ctx, { step: 'replicate', snapshot: snap, ...outcome })
    const say = outcome.result === 'ok' || outcome.result === 'up-to-date' ? ctx.log.info : ctx.log.warn
    say('replicate', `${outcome.result}: ${outcome.message}${outcome.bytes !== undefined ? ` (${outcome.bytes} bytes sent)` : ''}`, target.name)
    results.push(outcome)
  }
  return results
}

/** Retention on each target, run by this node; an unreachable target is skipped, not fatal. */
export async function pruneTargets(ctx: Context): Promise<PruneResult[]> {
  const results: PruneResult[] = []
  for (const target of loadTargets(ctx.config)) {
    const where = `${target.name}:${targetDir(ctx.config, target)}`
    const listing = await listTargetSnapshots(ctx, target)
    if ('ok' in listing) {
      ctx.log.warn('prune', `skipped: ${listing.ok ? 'unreadable listing' : listing.message}`, target.name)
      continue
    }
    for (const leftover of listing.entries.filter((e) => e.startsWith(PRUNING_PREFIX) && isSnapshotName(e.slice(PRUNING_PREFIX.length)))) {
      await change(ctx, 'prune', `finish removing ${where}/${leftover}`, () => runOnTarget(ctx, target, `rm -rf ${leftover}`))
    }
    const plan = planPrune(listing.complete, ctx.config.retention.replicas, ctx.clock.now())
    const removed: string[] = []
    for (const name of plan.remove) {
      const outcome = await change(ctx, 'prune', `remove ${where}/${name}`, () => runOnTarget(ctx, target, removeScript(name)))
      if (outcome && !outcome.ok) ctx.log.warn('prune', `cannot remove ${name}: ${outcome.message}`, target.name)
      else removed.push(name)
    }
    results.push({ where, kept: plan.keep, removed })
  }
  return results
}
