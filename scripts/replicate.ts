#!/usr/bin/env tsx
// famlab replicate: sends the newest snapshot to every peer (or one), resuming interrupted transfers.
// Exit 0 all peers have it, 3 some peers unreachable, 1 failed, 2 bad arguments, 75 busy.
import { runCommand } from '../lib/cli.ts'
import { choosePeers, refuseOverAllowance } from '../lib/copies.ts'
import { FamlabError, runIfMain, UsageError } from '../lib/exit.ts'
import { agreeOnMembership, requireMembership } from '../lib/family.ts'
import { withLock } from '../lib/lock.ts'
import { findMember } from '../lib/members.ts'
import { state, storage } from '../lib/paths.ts'
import type { HolderStatus } from '../lib/receive.ts'
import { replicateSnapshot, replicationExitCode } from '../lib/replicate.ts'
import { newestSnapshot } from '../lib/snapshots.ts'
import { closeSharedSsh, sharedSshCommand } from '../lib/ssh.ts'
import { replicateToTargets } from '../lib/target-store.ts'
import { loadTargets } from '../lib/targets.ts'

const usage = `
famlab replicate [--peer NAME] [--config FILE]

Sends the newest snapshot to each peer (with family.copies: k, to the k peers placed for
this node by rendezvous hashing) and bare target with rsync --link-dest over SSH, into the peer's
replicas/<this node>/.incomplete, and has the peer name it complete only when the
transfer finished. An interrupted transfer is resumed by the next run.

Options:
  --peer NAME   only this peer (placed or not), or bare target

Exit codes: 0 every peer has it, 3 some peers unreachable (the others have it),
1 failed, 2 bad arguments or config, 75 another famlab run holds the lock.
Example: famlab replicate --peer bob
`

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage, string: ['peer'] }, async (ctx, args) =>
    withLock(state(ctx.config).lock, async () => {
      const membership = requireMembership(ctx.config)
      const named = args.peer ? [findMember(membership, args.peer)].filter((m) => m !== undefined) : []
      const targets = loadTargets(ctx.config).filter((t) => !args.peer || t.name === args.peer)
      if (args.peer && (named.length + targets.length === 0 || args.peer === ctx.config.node)) throw new UsageError(`--peer: "${args.peer}" is not a peer or target of this node`)
      const snap = newestSnapshot(storage(ctx.config).snapshots)
      if (!snap) throw new FamlabError('there is no snapshot to replicate yet', 'Run famlab snapshot or famlab backup.')
      const chosen = args.peer ? named : await choosePeers(ctx, membership)
      try {
        const peers = await agreeOnMembership<HolderStatus>(ctx, chosen, sharedSshCommand(ctx.config))
        const refused = refuseOverAllowance(ctx, requireMembership(ctx.config), snap, peers)
        return replicationExitCode([...(refused ?? await replicateSnapshot(ctx, snap, peers)), ...await replicateToTargets(ctx, snap, targets)])
      } finally {
        await closeSharedSsh(ctx.config, chosen.map((peer) => peer.name))
      }
    }),
  )
}

runIfMain(import.meta.url, main)
