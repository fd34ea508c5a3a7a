#!/usr/bin/env tsx
// famlab prune: applies retention to snapshots/ and every replicas/<origin>/.
// Exit 0 done, 1 failed, 2 bad config, 75 busy.
import { runCommand } from '../lib/cli.ts'
import { runIfMain } from '../lib/exit.ts'
import { recordStep } from '../lib/history.ts'
import { withLock } from '../lib/lock.ts'
import { state } from '../lib/paths.ts'
import { pruneAll } from '../lib/prune.ts'
import { pruneTargets } from '../lib/target-store.ts'

const usage = `
famlab prune [--dry-run] [--config FILE]

Applies retention.local to snapshots/ and retention.replicas to every replicas/<origin>/
and to this node's snapshots on each bare target (famlab add-target).
Each term (e.g. "14d 8w 12m *y") keeps the oldest snapshot in each of the newest N
UTC buckets that hold one; the newest complete snapshot is always kept; .incomplete
is never touched.

Options:
  --dry-run   print what would be removed, remove nothing

Exit codes: 0 done, 1 failed, 2 bad config, 75 another famlab run holds the lock.
Example: famlab prune --dry-run
`

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage, boolean: ['dry-run'] }, async (ctx) =>
    withLock(state(ctx.config).lock, async () => {
      const results = [...await pruneAll(ctx), ...await pruneTargets(ctx)]
      const removed = results.reduce((n, r) => n + r.removed.length, 0)
      for (const r of results) for (const name of r.removed) process.stdout.write(`${ctx.dryRun ? 'would remove' : 'removed'} ${r.where}/${name}\n`)
      if (!ctx.dryRun) recordStep(ctx, { step: 'prune', result: 'ok', message: `removed ${removed} snapshots` })
      return 0
    }),
  )
}

runIfMain(import.meta.url, main)
