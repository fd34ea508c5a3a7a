#!/usr/bin/env tsx
// famlab snapshot: a read-only btrfs snapshot of local/, named by UTC time; prints its name.
// Exit 0 done, 1 failed, 2 bad config, 75 busy.
import { runCommand } from '../lib/cli.ts'
import { runIfMain } from '../lib/exit.ts'
import { recordStep } from '../lib/history.ts'
import { withLock } from '../lib/lock.ts'
import { state } from '../lib/paths.ts'
import { takeSnapshot } from '../lib/snapshots.ts'
import { checkSources } from '../lib/sources.ts'

const usage = `
famlab snapshot [--config FILE]

Takes a read-only btrfs snapshot of <root>/local as <root>/snapshots/<UTC time>
(e.g. 2026-11-23T101500Z) and prints its name. Each configured source lands in it
under sources/<name>: a btrfs subvolume by its own read-only snapshot, any other
directory copied from the live tree (files vanishing meanwhile: a warning in history). Refuses when the clock is behind
the newest snapshot. FAMLAB_NOW replaces the clock.

Exit codes: 0 done, 1 failed, 2 bad config, 75 another famlab run holds the lock.
Example: famlab snapshot
`

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage }, async (ctx) => {
    checkSources(ctx.config)
    return withLock(state(ctx.config).lock, async () => {
      const name = await takeSnapshot(ctx)
      recordStep(ctx, { step: 'snapshot', snapshot: name, result: 'ok' })
      process.stdout.write(`${name}\n`)
      return 0
    })
  })
}

runIfMain(import.meta.url, main)
