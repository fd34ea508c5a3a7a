#!/usr/bin/env tsx
// famlab leave: this node takes itself out of the family. Every reachable member learns the list
// without it and revokes its key; the others learn on their next contact with any member. This
// node is then a family of one. Nothing is deleted: its snapshots and the replicas it holds stay.
// Exit 0 done, 1 no member could be told, 2 bad arguments or config, 75 busy.
import { runCommand } from '../lib/cli.ts'
import { EXIT, FamlabError, runIfMain } from '../lib/exit.ts'
import { propagateMembership, refreshSshFiles, requireMembership, withMembershipLock } from '../lib/family.ts'
import { recordStep } from '../lib/history.ts'
import { withLock } from '../lib/lock.ts'
import { findMember, peersOf, saveMembership, withoutMember } from '../lib/members.ts'
import { state } from '../lib/paths.ts'

const usage = `
famlab leave [--dry-run] [--config FILE]

Takes this node out of its family: every reachable member gets the member list without
it and revokes its key at once; members that are offline learn it on their next contact
with any member. This node then forms a family of one; its key stays revoked in the old
family (to join again: a new node key, then an invite). Nothing is deleted: its snapshots
and the replicas it holds of others stay, and the others keep its replicas.

Options:
  --dry-run   say what would change, change nothing

Exit codes: 0 done, 1 no member could be told (nothing changed here), 2 bad config,
75 another famlab run holds the lock.
Example: famlab leave
`

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage, boolean: ['dry-run'] }, async (ctx) => {
    const node = ctx.config.node
    const membership = requireMembership(ctx.config)
    const peers = peersOf(membership, node)
    if (peers.length === 0) throw new FamlabError(`${node} is alone in its family; there is nothing to leave`)
    if (ctx.dryRun) {
      ctx.log.warn('leave', `[dry-run] would tell ${peers.map((p) => p.name).join(', ')} to remove ${node}, then become a family of one`)
      return EXIT.ok
    }
    return withLock(state(ctx.config).lock, async () => {
      // Tell the others first: once they have the list without us, our key no longer works there
      const without = withoutMember(membership, node, ctx.clock.now().toISOString())
      const told = await propagateMembership(ctx, without, [])
      const reached = Object.entries(told).filter(([, result]) => result.startsWith('updated')).map(([peer]) => peer)
      for (const [peer, result] of Object.entries(told)) ctx.log[result.startsWith('updated') ? 'info' : 'warn']('leave', result, peer)
      if (reached.length === 0) throw new FamlabError('no member could be reached, so this node is still in the family', 'Try again when one is online.')

      // Then a family of one here
      const alone = { version: 1, members: [findMember(membership, node)!] }
      withMembershipLock(ctx.config, () => {
        saveMembership(ctx.config, alone)
        refreshSshFiles(ctx, alone)
      })
      recordStep(ctx, { step: 'leave', result: 'ok', message: `left the family; told ${reached.join(', ')}` })
      process.stdout.write(`${node} left the family (told ${reached.join(', ')}; the others learn on their next contact)\n`)
      return EXIT.ok
    })
  })
}

runIfMain(import.meta.url, main)
