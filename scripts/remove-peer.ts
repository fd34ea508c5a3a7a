#!/usr/bin/env tsx
// famlab remove-peer NAME: takes a member out of the family on every reachable member and revokes
// its key; members that are offline catch up on their next contact. Its replicas stay unless --purge.
// Exit 0 done, 1 failed, 2 bad arguments or config, 75 busy.
import { NODE_NAME } from '../lib/config.ts'
import { runCommand } from '../lib/cli.ts'
import { runIfMain, UsageError } from '../lib/exit.ts'
import { propagateMembership, requireMembership } from '../lib/family.ts'
import { recordStep } from '../lib/history.ts'
import { withLock } from '../lib/lock.ts'
import { findMember, isRevoked, peersOf } from '../lib/members.ts'
import { state, storage } from '../lib/paths.ts'
import { heldReplicas, purgeReplicas, removeMemberLocally } from '../lib/removal.ts'

const usage = `
famlab remove-peer NAME [--keep-data | --purge] [--dry-run] [--config FILE]

Removes NAME from the family: this node revokes its key at once, then tells every other
member, which revoke it too. Members that are offline learn it on their next contact with
any member (the member list is versioned; an older list is refused). Nothing is sent to
NAME any more, and its key can no longer read or write anything.

Its replicas on this node stay (--keep-data, the default) until you delete them with
--purge; see first what would go with --purge --dry-run. --purge works on a node that
already learned of the removal too: run it on each member whose copies should go.

Options:
  --keep-data   keep the replicas of NAME held here (the default)
  --purge       also delete replicas/NAME/ on this node
  --dry-run     say what would change, change nothing

Exit codes: 0 done, 1 failed, 2 bad arguments or config, 75 another famlab run holds the lock.
Examples: famlab remove-peer carol
          famlab remove-peer carol --purge --dry-run
`

export async function main(argv: string[]): Promise<number> {
  const spec = { usage, boolean: ['keep-data', 'purge', 'dry-run'], positional: [1, 1] as [number, number] }
  return runCommand(argv, spec, async (ctx, args) => {
    const name = String(args._[0])
    if (!NODE_NAME.test(name)) throw new UsageError(`NAME: "${name.slice(0, 40)}" is not a node name`)
    if (args.purge && args['keep-data']) throw new UsageError('--purge and --keep-data contradict each other')
    if (name === ctx.config.node) throw new UsageError(`NAME: "${name}" is this node; run remove-peer on another member`)
    const membership = requireMembership(ctx.config)
    const member = findMember(membership, name)
    const wasRemoved = (membership.removed ?? []).some((r) => r.name === name)
    if (!member && !(args.purge && (wasRemoved || heldReplicas(ctx, name).length > 0))) {
      throw new UsageError(`NAME: "${name}" is not a member of this family`, 'See famlab peers.')
    }
    const others = peersOf(membership, ctx.config.node).filter((m) => m.name !== name).map((m) => m.name)
    const doomed = args.purge ? heldReplicas(ctx, name) : []

    // Dry run: say it all, change nothing
    if (ctx.dryRun) {
      if (member) {
        ctx.log.warn('remove-peer', `[dry-run] would remove ${name} (member list version ${membership.version} -> ${membership.version + 1}), revoke its key here and tell ${others.join(', ') || 'no one else'}`)
      }
      for (const entry of doomed) ctx.log.warn('remove-peer', `[dry-run] would delete ${storage(ctx.config).replicasOf(name)}/${entry}`)
      if (!args.purge) ctx.log.info('remove-peer', `replicas of ${name} held here stay: ${heldReplicas(ctx, name).length} entries`)
      return 0
    }

    return withLock(state(ctx.config).lock, async () => {
      // Revoke here first, then tell the others
      if (member && !isRevoked(requireMembership(ctx.config), name, member.key)) {
        const updated = removeMemberLocally(ctx, name)
        recordStep(ctx, { step: 'remove-peer', peer: name, result: 'ok', message: `member list version ${updated.version}` })
        ctx.log.info('remove-peer', `removed ${name}; its key no longer works here (member list version ${updated.version})`)
        const told = await propagateMembership(ctx, updated, [name])
        for (const [peer, result] of Object.entries(told)) {
          const reached = result.startsWith('updated')
          ctx.log[reached ? 'info' : 'warn']('remove-peer', reached ? result : `${result}; it will learn on its next contact`, peer)
        }
      }

      // Purge only what the admin asked for
      if (args.purge) {
        const removed = await purgeReplicas(ctx, name)
        recordStep(ctx, { step: 'purge', peer: name, result: 'ok', message: `deleted ${removed} entries of replicas/${name}` })
        ctx.log.info('remove-peer', `deleted ${removed} replicas of ${name} held here`)
      } else {
        const kept = heldReplicas(ctx, name).length
        if (kept) ctx.log.info('remove-peer', `kept ${kept} replicas of ${name} here; delete them with: famlab remove-peer ${name} --purge --dry-run`)
      }
      return 0
    })
  })
}

runIfMain(import.meta.url, main)
