#!/usr/bin/env tsx
// famlab tm-idle: exit 0 when no Mac or PC is writing its backup here, 75 while one is.
import { runCommand } from '../lib/cli.ts'
import { EXIT, runIfMain } from '../lib/exit.ts'
import { checkActivity } from '../lib/timemachine.ts'

const usage = `
famlab tm-idle [--config FILE]

Says whether a Time Machine or File History client is writing to this node:
busy while smbd has a file open inside a .sparsebundle/ or .backupbundle/
(smbstatus -L --json), or while anything under <root>/local changed within
timemachine.quiet_minutes. backup waits for this before its snapshot.
Samba's config is $FAMLAB_SMB_CONF, else /etc/samba/smb.conf.

Exit codes: 0 idle, 75 busy (the reason on stderr), 1 failed, 2 bad config.
Example: famlab tm-idle && echo quiet
`

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage }, async (ctx) => {
    const activity = await checkActivity(ctx)
    if (activity.idle) return EXIT.ok
    process.stderr.write(`famlab tm-idle: busy: ${activity.reason}\n`)
    return EXIT.busy
  })
}

runIfMain(import.meta.url, main)
