// Applies retention to snapshots/ and to every replicas/<origin>/ (CONTRACT: Retention).
// Only the holding node prunes; `.incomplete` and `.resume` are never touched.
import { readdirSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { removeTree } from './btrfs.ts'
import type { Context } from './context.ts'
import { change } from './exec.ts'
import { PRUNING_PREFIX, storage } from './paths.ts'
import { planPrune, type RetentionPolicy } from './retention.ts'
import { listSnapshots } from './snapshots.ts'

export type PruneResult = { where: string; kept: string[]; removed: string[] }

/** Renamed first, so an interrupted delete never leaves a partial tree under a complete name. */
async function removeSnapshot(ctx: Context, dir: string, name: string): Promise<void> {
  const doomed = join(dir, `${PRUNING_PREFIX}${name}`)
  await change(ctx, 'prune', `remove ${join(dir, name)}`, async () => {
    renameSync(join(dir, name), doomed)
    await removeTree(doomed)
  })
}

/** Finishes deletes that a crash interrupted. */
async function removeLeftovers(ctx: Context, dir: string): Promise<void> {
  for (const entry of readdirSync(dir).filter((e) => e.startsWith(PRUNING_PREFIX))) {
    await change(ctx, 'prune', `finish removing ${join(dir, entry)}`, () => removeTree(join(dir, entry)))
  }
}

async function pruneDir(ctx: Context, dir: string, policy: RetentionPolicy): Promise<PruneResult> {
  await removeLeftovers(ctx, dir)
  const plan = planPrune(listSnapshots(dir), policy, ctx.clock.now())
  for (const name of plan.remove) await removeSnapshot(ctx, dir, name)
  return { where: dir, kept: plan.keep, removed: plan.remove }
}

export async function pruneAll(ctx: Context): Promise<PruneResult[]> {
  const paths = storage(ctx.config)
  const results = [await pruneDir(ctx, paths.snapshots, ctx.config.retention.local)]
  for (const origin of readdirSync(paths.replicas).sort()) {
    if (origin.startsWith('.')) continue
    results.push(await pruneDir(ctx, paths.replicasOf(origin), ctx.config.retention.replicas))
  }
  return results
}
