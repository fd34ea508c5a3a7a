#!/usr/bin/env tsx
// famlab COMMAND …: dispatches to scripts/<command>.ts. It only dispatches.
import { EXIT, runIfMain } from '../lib/exit.ts'

type Command = { main(argv: string[]): Promise<number> }

const COMMANDS: Record<string, () => Promise<Command>> = {
  'init': () => import('../scripts/init.ts'),
  'invite': () => import('../scripts/invite.ts'),
  'add-peer': () => import('../scripts/add-peer.ts'),
  'remove-peer': () => import('../scripts/remove-peer.ts'),
  'rotate-key': () => import('../scripts/rotate-key.ts'),
  'repin': () => import('../scripts/repin.ts'),
  'peers': () => import('../scripts/peers.ts'),
  'snapshot': () => import('../scripts/snapshot.ts'),
  'replicate': () => import('../scripts/replicate.ts'),
  'prune': () => import('../scripts/prune.ts'),
  'backup': () => import('../scripts/backup.ts'),
  'serve': () => import('../scripts/serve.ts'),
  'serve-root': () => import('../scripts/serve-root.ts'),
  'send-receiver': () => import('../scripts/send-receiver.ts'),
  'scrub': () => import('../scripts/scrub.ts'),
  'leave': () => import('../scripts/leave.ts'),
  'smb-conf': () => import('../scripts/smb-conf.ts'),
  'avahi-service': () => import('../scripts/avahi-service.ts'),
  'add-target': () => import('../scripts/add-target.ts'),
  'seed': () => import('../scripts/seed.ts'),
  'recovery-kit': () => import('../scripts/recovery-kit.ts'),
  'rejoin': () => import('../scripts/rejoin.ts'),
  'disk': () => import('../scripts/disk.ts'),
  'share-replica': () => import('../scripts/share-replica.ts'),
  'user': () => import('../scripts/user.ts'),
  'tm-idle': () => import('../scripts/tm-idle.ts'),
  'report': () => import('../scripts/report.ts'),
  'notify': () => import('../scripts/notify.ts'),
  'restore': () => import('../scripts/restore.ts'),
  'verify': () => import('../scripts/verify.ts'),
}

const usage = `famlab COMMAND [OPTIONS]   (famlab COMMAND --help for each)

A family backup: each box is its household's Time Machine / File History target,
snapshots it with btrfs and replicates every snapshot to the other boxes over SSH.

Commands: ${Object.keys(COMMANDS).join(', ')}

Common options: --config FILE (else $FAMLAB_CONFIG, else /etc/famlab/famlab.yaml), --help, --verbose
Exit codes: 0 done, 1 failed, 2 usage or config error, 3 partial (some peers unreachable), 75 busy.
`

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage)
    return name ? EXIT.ok : EXIT.usage
  }
  const load = COMMANDS[name]
  if (!load) {
    process.stderr.write(`famlab: unknown command "${name}"; see famlab --help\n`)
    return EXIT.usage
  }
  return (await load()).main(rest)
}

runIfMain(import.meta.url, main)
