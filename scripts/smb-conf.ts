#!/usr/bin/env tsx
// famlab smb-conf: prints the complete smb.conf for this node. Exit 0 done, 2 bad config.
import { runCommand } from '../lib/cli.ts'
import { runIfMain } from '../lib/exit.ts'
import { renderSmbConf } from '../lib/samba.ts'

const usage = `
famlab smb-conf [--config FILE]

Prints the complete Samba configuration for this node: vfs_fruit for Macs, SMB2 and
later only, no guests, no printers, and two shares for every household member
(famlab user add NAME):
  [timemachine]  <root>/local/timemachine/<user>   Time Machine, capped at
                 timemachine.max_size and at the household's share of the disk
  [filehistory]  <root>/local/filehistory/<user>   Windows File History
make install writes it to /etc/samba/smb.conf (keeping an admin's own file aside).

Exit codes: 0 done, 2 bad config.
Example: famlab smb-conf > /etc/samba/smb.conf && testparm -s
`

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage }, async (ctx) => {
    process.stdout.write(renderSmbConf(ctx.config))
    return 0
  })
}

runIfMain(import.meta.url, main)
