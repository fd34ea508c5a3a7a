#!/usr/bin/env tsx
// famlab seed export|import: the first full copy travels on a carried disk instead of a slow uplink.
// Exit 0 done, 1 failed or the seed is damaged (nothing placed), 2 bad arguments or config, 75 busy.
import { runCommand } from '../lib/cli.ts'
import { FamlabError, runIfMain, UsageError } from '../lib/exit.ts'
import { requireMembership } from '../lib/family.ts'
import { recordStep } from '../lib/history.ts'
import { acquireLock, withLock } from '../lib/lock.ts'
import { findMember } from '../lib/members.ts'
import { state, storage } from '../lib/paths.ts'
import { checkSeed, exportSeed, findSeed, importSeed } from '../lib/seed.ts'
import { newestSnapshot } from '../lib/snapshots.ts'
import { chownToServiceUser } from '../lib/state.ts'

const usage = `
famlab seed export --peer NAME --to DIR [--config FILE]
famlab seed import --from DIR --origin NAME [--config FILE]

1 TB at 2 Mbit/s takes 46 days; a disk in the car takes one. On this node,
"seed export" copies the newest snapshot (owners, modes, ACLs, xattrs, hard links)
to DIR/famlab-seed-<this node>-<snap>/ with a SHA-256 list of the source. Carry the
disk to NAME and run "seed import" there: it checks the copy against the list and
places it as a complete replica of ORIGIN, as a network transfer would have. The next
backup of ORIGIN then sends only what changed since.

Options:
  --peer NAME     export: the member the disk is for
  --to DIR        export: where the carried disk is mounted
  --from DIR      import: the seed directory, or the disk holding it (newest seed of ORIGIN)
  --origin NAME   import: the member the seed comes from

Exit codes: 0 done, 1 failed or the seed is damaged (nothing placed), 2 bad arguments
or config, 75 another famlab run holds the lock.
Example: famlab seed export --peer bob --to /media/usb  (then on bob) famlab seed import --from /media/usb --origin alice
`

export async function main(argv: string[]): Promise<number> {
  const spec = { usage, positional: [1, 1] as [number, number], string: ['peer', 'to', 'from', 'origin'] }
  return runCommand(argv, spec, async (ctx, args) => {
    const { config } = ctx
    const action = String(args._[0])
    const need = action === 'export' ? ['peer', 'to'] : action === 'import' ? ['from', 'origin'] : undefined
    if (!need) throw new UsageError(`unknown action "${action}", expected export or import`)
    for (const option of need) if (!args[option]) throw new UsageError(`--${option} is required for seed ${action}`)
    const membership = requireMembership(config)
    const member = args.peer ?? args.origin
    if (!findMember(membership, member) || member === config.node) throw new UsageError(`--${args.peer ? 'peer' : 'origin'}: "${member}" is not a peer of this node`)

    return withLock(state(config).lock, async () => {
      if (action === 'export') {
        const snap = newestSnapshot(storage(config).snapshots)
        if (!snap) throw new FamlabError('there is no snapshot to export yet', 'Run famlab snapshot or famlab backup.')
        const written = await exportSeed(ctx, snap, args.peer, args.to)
        recordStep(ctx, { step: 'seed-export', peer: args.peer, snapshot: snap, result: 'ok', message: written })
        process.stdout.write(`${written}\n`)
        return 0
      }
      const seed = findSeed(args.from, args.origin)
      const manifest = await checkSeed(ctx, seed, args.origin)
      // A network transfer from the origin must not write into the same .incomplete meanwhile.
      const lockFile = state(config).originLock(args.origin)
      const receiving = acquireLock(lockFile, { holder: `a transfer from ${args.origin}`, waitSeconds: 60 })
      chownToServiceUser(config, lockFile)
      try {
        const files = await importSeed(ctx, seed, manifest)
        recordStep(ctx, { step: 'seed-import', peer: args.origin, snapshot: manifest.snapshot, result: 'ok', message: `${files} files from ${seed}` })
        process.stdout.write(`placed ${manifest.snapshot} of ${args.origin} as a complete replica (${files} files)\n`)
        return 0
      } finally {
        receiving.release()
      }
    })
  })
}

runIfMain(import.meta.url, main)
