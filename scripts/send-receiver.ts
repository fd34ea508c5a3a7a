#!/usr/bin/env tsx
// famlab send-receiver: turns on (or off) this node's root-side receiver for send mode.
// Exit 0 done, 1 failed, 2 usage or config error.
import { runCommand } from '../lib/cli.ts'
import { runIfMain, UsageError } from '../lib/exit.ts'
import { disableRootReceiver, enableRootReceiver, rootReceiver, sudoersFile } from '../lib/receive-send.ts'

const usage = `
famlab send-receiver enable|disable|status [--config FILE]

Send mode (replication.mode: send on the sending peers) needs root on the receiving side:
btrfs receive runs as root. "enable" installs one sudo rule (/etc/sudoers.d/famlab-<ssh.user>)
that lets ssh.user's forced command run "famlab serve-root" for this config and nothing else;
from then on this node offers send mode in its status. "disable" removes it; peers fall back
to snapshot mode by themselves. Read README "Send mode" for the security trade-off. Run as root.

Exit codes: 0 done, 1 failed, 2 usage or config error.
Example: famlab send-receiver enable
`

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage, positional: [1, 1] }, async (ctx, args) => {
    const action = String(args._[0])
    if (!['enable', 'disable', 'status'].includes(action)) throw new UsageError(`unknown action "${action}"`, 'Use enable, disable or status.')
    if (action === 'status') {
      const receiver = rootReceiver(ctx.config)
      process.stdout.write(receiver ? `enabled: ${receiver.sudoers}\n` : 'disabled\n')
      return 0
    }
    if (process.getuid?.() !== 0) throw new UsageError('send-receiver changes sudo rules: run it as root')
    if (action === 'disable') {
      disableRootReceiver(ctx.config)
      ctx.log.info('send-receiver', `disabled (${sudoersFile(ctx.config)} removed)`)
      return 0
    }
    const receiver = await enableRootReceiver(ctx.config)
    ctx.log.info('send-receiver', `enabled: ${receiver.sudoers} lets ${ctx.config.ssh.user} run famlab serve-root`)
    return 0
  })
}

runIfMain(import.meta.url, main)
