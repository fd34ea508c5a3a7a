#!/usr/bin/env tsx
// famlab recovery-kit --out FILE: writes what a reinstalled node needs to rejoin (0600) and
// prints how to use it. Exit 0 written, 1 failed, 2 bad arguments or config.
import { resolve } from 'node:path'
import { runCommand } from '../lib/cli.ts'
import { runIfMain, UsageError } from '../lib/exit.ts'
import { requireMembership } from '../lib/family.ts'
import { recordStep } from '../lib/history.ts'
import { buildKit, kitInstructions, kitText, writeKit } from '../lib/recovery-kit.ts'

const usage = `
famlab recovery-kit --out FILE [--config FILE]

Writes this node's recovery kit to FILE (mode 0600): its private key, the family's
member list with every pinned host key, its config (and famlab.env) and its bare
targets, with instructions at the top. After a dead disk or a reinstall,
famlab rejoin --kit FILE brings the node back into the family without a new invite.
Make a new kit after members join or leave; keep it offline.

Options:
  --out FILE   where to write the kit (replaced if it exists)

Exit codes: 0 written, 1 failed, 2 bad arguments or config.
Example: famlab recovery-kit --out /media/usb/alice.famlab-kit
`

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage, string: ['out'] }, async (ctx, args) => {
    if (!args.out) throw new UsageError('--out FILE is required')
    const kit = buildKit(ctx, requireMembership(ctx.config))
    const file = resolve(args.out)
    writeKit(file, kitText(kit))
    recordStep(ctx, { step: 'recovery-kit', result: 'ok', message: `${file}, member list version ${kit.membership.version}` })
    process.stdout.write(`wrote ${file} (0600)\n\n${kitInstructions(kit).replace('THIS-FILE', file)}`)
    return 0
  })
}

runIfMain(import.meta.url, main)
