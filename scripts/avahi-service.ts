#!/usr/bin/env tsx
// famlab avahi-service: prints the Avahi static service file that makes Macs list this node
// as a Time Machine disk. Exit 0 done, 2 bad config.
import { runCommand } from '../lib/cli.ts'
import { runIfMain } from '../lib/exit.ts'
import { renderAvahiService } from '../lib/samba.ts'

const usage = `
famlab avahi-service [--config FILE]

Prints the Avahi service file advertising this node over mDNS: _smb._tcp (the
shares), _device-info._tcp (a Time Capsule icon) and _adisk._tcp (the Time Machine
share, so Macs offer it in Time Machine's disk list without any setup).
make install writes it to /etc/avahi/services/famlab.service.

Exit codes: 0 done, 2 bad config.
Example: famlab avahi-service > /etc/avahi/services/famlab.service
`

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage }, async (ctx) => {
    process.stdout.write(renderAvahiService(ctx.config))
    return 0
  })
}

runIfMain(import.meta.url, main)
