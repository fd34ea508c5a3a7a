// Taking a member out of the family: revoke its key here, tell every reachable member, and
// (only when the admin asks) delete the replicas of it that this node holds.
import { existsSync, readdirSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { removeTree } from './btrfs.ts'
import type { Context } from './context.ts'
import { refreshSshFiles, requireMembership, withMembershipLock } from './family.ts'
import { saveMembership, withoutMember, type Membership } from './members.ts'
import { PRUNING_PREFIX, storage } from './paths.ts'

/** Removes `name` from our list and regenerates authorized_keys at once, so its key stops working here. */
export function removeMemberLocally(ctx: Context, name: string): Membership {
  return withMembershipLock(ctx.config, () => {
    const updated = withoutMember(requireMembership(ctx.config), name, ctx.clock.now().toISOString())
    saveMembership(ctx.config, updated)
    refreshSshFiles(ctx, updated)
    return updated
  })
}

/** Everything under replicas/<origin>/: complete replicas and any unfinished transfer. */
export function heldReplicas(ctx: Context, origin: string): string[] {
  const dir = storage(ctx.config).replicasOf(origin)
  return existsSync(dir) ? readdirSync(dir).sort() : []
}

/**
 * Deletes replicas/<origin>/ entry by entry. Each one is renamed out of the `<snap>` namespace
 * first, so an interrupted purge never leaves a half-deleted tree that looks complete.
 */
export async function purgeReplicas(ctx: Context, origin: string): Promise<number> {
  const dir = storage(ctx.config).replicasOf(origin)
  let removed = 0
  for (const entry of heldReplicas(ctx, origin)) {
    const doomed = entry.startsWith(PRUNING_PREFIX) ? join(dir, entry) : join(dir, `${PRUNING_PREFIX}${entry}`)
    if (!entry.startsWith(PRUNING_PREFIX)) renameSync(join(dir, entry), doomed)
    await removeTree(doomed)
    removed++
  }
  await removeTree(dir)
  return removed
}
