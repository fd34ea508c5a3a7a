#!/usr/bin/env tsx
// famlab serve: the forced command behind every peer key in authorized_keys. Never run by hand.
// Exit codes are handed back to the calling peer: 0 done, 2 refused, 75 busy, else rsync's own.
import { runCommand } from '../lib/cli.ts'
import { runIfMain, UsageError } from '../lib/exit.ts'
import { serveRequest, type Caller } from '../lib/serve.ts'
import { measureReplicaUsage } from '../lib/space.ts'

const usage = `
famlab serve --config FILE (--peer NAME | --invite ID)
famlab serve --config FILE --measure-space

The forced command of peer keys (authorized_keys: command="… serve …",restrict). It reads
SSH_ORIGINAL_COMMAND and allows only rsync confined to replicas/NAME/ (writes only into
.incomplete/) and famlab's requests: status, list, finalize SNAP, peers, peers-update, and join
for an invite key. Everything else is refused and logged. Not meant to be run by hand.
--measure-space: measures what the replicas held here use (a walk of all of them), for the
answers of status; status starts it in the background when the replicas changed.

Exit codes: 0 done, 2 refused, 75 busy, other: rsync's exit code.
`

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage, string: ['peer', 'invite'], boolean: ['measure-space'] }, async (ctx, args) => {
    if (args['measure-space']) {
      await measureReplicaUsage(ctx.config)
      return 0
    }
    const caller: Caller | undefined = args.peer ? { peer: args.peer } : args.invite ? { invite: args.invite } : undefined
    if (!caller || (args.peer && args.invite)) throw new UsageError('serve needs exactly one of --peer NAME or --invite ID')
    return serveRequest(ctx, caller, ctx.env.SSH_ORIGINAL_COMMAND)
  })
}

runIfMain(import.meta.url, main)
