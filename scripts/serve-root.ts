#!/usr/bin/env tsx
// famlab serve-root: the root side of send mode, run by `serve` through the sudo rule that
// `famlab send-receiver enable` installs. Never run by hand.
// Exit codes are handed back to the calling peer: 0 done, 1 failed, 2 refused, else rsync's own.
import { existsSync, realpathSync } from 'node:fs'
import { join } from 'node:path'
import { runCommand } from '../lib/cli.ts'
import { isSnapshotName } from '../lib/clock.ts'
import { pullPathProblem } from '../lib/confine.ts'
import { run, runChecked } from '../lib/exec.ts'
import { EXIT, runIfMain, UsageError } from '../lib/exit.ts'
import { requireMembership } from '../lib/family.ts'
import { findMember } from '../lib/members.ts'
import { storage } from '../lib/paths.ts'
import { readableReplica, receiveSendStream } from '../lib/receive-send.ts'
import { parseRsyncRequest } from '../lib/rsync-policy.ts'
import { measureReplica, type ReplicaSize } from '../lib/sizes.ts'
import { originUsage } from '../lib/space.ts'

const usage = `
famlab serve-root --config FILE --peer NAME (receive SNAP PARENT|none | read 'RSYNC REQUEST' | measure | sizes SNAP[,SNAP…])

Runs as root for serve (sudo), for peer NAME only:
  receive SNAP PARENT   a btrfs send stream on stdin becomes replicas/NAME/SNAP (PARENT: the
                        replica it is incremental on, none for a whole one); the stream is checked first
  read REQUEST          an rsync pull (restore, verify) from a replica btrfs receive wrote
  measure               bytes NAME's replicas use here, shared data counted once
  sizes SNAP[,SNAP…]    apparent bytes and files of these replicas, as JSON (restore --list)

Exit codes: 0 done, 1 failed, 2 refused, else rsync's own.
`

const refuse = (reason: string) => {
  process.stderr.write(`famlab serve: refused: ${reason}\n`)
  return EXIT.usage
}

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage, string: ['peer'], positional: [1, 3] }, async (ctx, args) => {
    if (process.getuid?.() !== 0) throw new UsageError('serve-root runs only as root, through the sudo rule of famlab send-receiver')
    const peer = String(args.peer ?? '')
    if (!findMember(requireMembership(ctx.config), peer) || peer === ctx.config.node) return refuse(`${peer || 'nobody'} is not a member of this family`)
    const [kind, ...words] = args._.map(String)
    const dir = storage(ctx.config).replicasOf(peer)

    // Receive: the stream is checked, received, and named <snap> only when whole
    if (kind === 'receive' && words.length === 2) {
      const parent = words[1] === 'none' ? undefined : words[1]
      const received = await receiveSendStream(ctx.config, peer, words[0], parent, process.stdin)
      if (received.ok) return EXIT.ok
      process.stderr.write(`famlab serve: ${received.reason}\n`)
      return EXIT.failed
    }

    // Measure: what ssh.user cannot read, for the room and the agreement in serve's status
    if (kind === 'measure' && words.length === 0) {
      await runChecked(['sync', '--file-system', dir])
      process.stdout.write(`${await originUsage(dir)}\n`)
      return EXIT.ok
    }

    // Sizes: what restore --list shows of the replicas root received (find as root)
    if (kind === 'sizes' && words.length === 1) {
      const sizes: Record<string, ReplicaSize> = {}
      for (const snap of words[0].split(',')) {
        if (!isSnapshotName(snap) || !existsSync(join(dir, snap))) return refuse(`"${snap}" is not a complete replica of ${peer}`)
        const { base } = await readableReplica(dir, snap)
        const size = await measureReplica(join(base, snap))
        if (size) sizes[snap] = size
      }
      process.stdout.write(`${JSON.stringify(sizes)}\n`)
      return EXIT.ok
    }

    // Read: the same allow-list and confinement as serve's own pulls, from the tree as received
    // (real owners and ACLs); a published replica alone gives back its top's owner by --fake-super
    if (kind === 'read' && words.length === 1) {
      const request = parseRsyncRequest(words[0])
      if ('refused' in request) return refuse(request.refused)
      if (request.direction !== 'send') return refuse('only reads go through the root side')
      const { base, fakeSuper } = await readableReplica(dir, request.path.split('/')[0])
      const problem = pullPathProblem(base, request.path)
      if (problem) return refuse(problem)
      const confine = `--confine-root=${realpathSync(base)}`
      const options = [...request.options, ...(fakeSuper ? ['--fake-super'] : []), '--munge-links', confine]
      return (await run(['rsync', '--server', '--sender', ...options, '--', '.', request.path], { cwd: base, inherit: true })).code
    }
    return refuse(`unknown root request "${kind}"`)
  })
}

runIfMain(import.meta.url, main)
