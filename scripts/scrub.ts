#!/usr/bin/env tsx
// famlab scrub: reads every block of root's btrfs and checks it against its checksum (monthly
// timer). Errors are recorded in history, where report raises them as `integrity`.
// Exit 0 no errors, 1 errors found or scrub failed, 2 bad config.
import { parseScrubSummary } from '../lib/agreement.ts'
import { isBtrfs } from '../lib/btrfs.ts'
import { runCommand } from '../lib/cli.ts'
import { run } from '../lib/exec.ts'
import { FamlabError, runIfMain } from '../lib/exit.ts'
import { recordStep, stopwatch } from '../lib/history.ts'

const usage = `
famlab scrub [--config FILE]

Runs btrfs scrub on the filesystem of root and waits for it: every data and metadata
block is read and checked against its checksum. The result goes to history.jsonl
(step "scrub"); errors raise the integrity alert in famlab report. Meant for a monthly
timer (famlab-scrub.timer); a scrub of a large disk takes hours, at idle IO priority.

Exit codes: 0 no errors, 1 errors found or scrub failed (or one already running), 2 bad config.
Example: famlab scrub
`

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage }, async (ctx) => {
    if (!isBtrfs(ctx.config.root)) throw new FamlabError(`${ctx.config.root} is not on btrfs; there is nothing to scrub`)
    // No node lock: a scrub runs for hours beside backups (btrfs itself refuses a second scrub).
    const elapsed = stopwatch()
    const scrub = await run(['btrfs', 'scrub', 'start', '-B', '-c', '3', ctx.config.root])
    const output = `${scrub.stdout}\n${scrub.stderr}`
    const { errors, uncorrectable } = parseScrubSummary(output)
    const ok = scrub.ok && errors === null
    const message = errors === null ? (scrub.ok ? 'no errors found' : `scrub failed (exit ${scrub.code}): ${output.trim().split('\n').at(-1)}`)
      : `errors found: ${errors}${uncorrectable ? `, ${uncorrectable} uncorrectable` : ''}`
    recordStep(ctx, { step: 'scrub', result: ok ? 'ok' : 'failed', seconds: elapsed(), message })
    ;(ok ? ctx.log.info : ctx.log.warn)('scrub', message)
    return ok ? 0 : 1
  })
}

runIfMain(import.meta.url, main)
