// Applies retention to snapshots/ and to every replicas/<origin>/ (CONTRACT: Retention).
// Only the holding node prunes; `.incomplete` and `.resume` are never touched.
import { readdirSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { removeTrees } from './btrfs.ts'
import type { Context } from './context.ts'
import { change } from './exec.ts'
import { PRUNING_PREFIX, storage } from './paths.ts'
import { planPrune, type RetentionPolicy } from './retention.ts'
import { listSnapshots } from './snapshots.ts'

export type PruneResult = { where: string; kept: string[]; removed: string[] }

/** Finishes deletes that a crash interrupted. */
async function removeLeftovers(ctx: Context, dir: string): Promise<void> {
  const leftovers = readdirSync(dir).filter((e) => e.startsWith(PRUNING_PREFIX)).map((e) => join(dir, e))
  if (leftovers.length) await change(ctx, 'prune', `finish removing ${leftovers.length} interrupted deletes in ${dir}`, () => removeTrees(leftovers))
}

async function pruneDir(ctx: Context, dir: string, policy: RetentionPolicy): Promise<PruneResult> {
  await removeLeftovers(ctx, dir)
  const plan = planPrune(listSnapshots(dir), policy, ctx.clock.now())
  if (plan.remove.length) {
    // Renamed first, so an interrupted delete never leaves a partial tree under a complete name.
    await change(ctx, 'prune', `remove ${plan.remove.length} snapshots from ${dir}`, async () => {
      const doomed = plan.remove.map((name) => {
        renameSync(join(dir, name), join(dir, `${PRUNING_PREFIX}${name}`))
        return join(dir, `${PRUNING_PREFIX}${name}`)
      })
      await removeTrees(doomed)
    })
  }
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
