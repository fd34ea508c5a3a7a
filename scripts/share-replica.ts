#!/usr/bin/env tsx
// famlab share-replica ORIGIN --user NAME | --off: a read-only SMB share of ORIGIN's replicas here.
// Exit 0 done, 1 failed, 2 bad arguments or config.
import { runCommand } from '../lib/cli.ts'
import { run } from '../lib/exec.ts'
import { runIfMain, UsageError } from '../lib/exit.ts'
import { requireMembership } from '../lib/family.ts'
import { recordStep } from '../lib/history.ts'
import { findMember } from '../lib/members.ts'
import { storage } from '../lib/paths.ts'
import { loadReplicaShares, replicaShareName, saveReplicaShares } from '../lib/replica-shares.ts'
import { smbConfPath } from '../lib/samba.ts'
import { listSnapshots } from '../lib/snapshots.ts'
import { lookupAccount } from '../lib/state.ts'

const usage = `
famlab share-replica ORIGIN --user NAME [--config FILE]
famlab share-replica ORIGIN --off [--config FILE]

When ORIGIN's home burned down, its people can copy their files back from this node:
shares ORIGIN's complete replicas held here as the read-only SMB share [replica-ORIGIN]
(one dated folder per snapshot) for the user NAME only. NAME needs a Samba account here
(famlab user add NAME, or smbpasswd -a NAME). --off removes the share.
smb.conf includes <state>/smb-replicas.conf; smbd is told to reload ($FAMLAB_SMB_CONF,
else /etc/samba/smb.conf).

Options:
  --user NAME   the only account allowed in
  --off         stop sharing ORIGIN's replicas

Exit codes: 0 done, 1 failed, 2 bad arguments or config.
Example: famlab share-replica carol --user anna
`

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage, positional: [1, 1], string: ['user'], boolean: ['off'] }, async (ctx, args) => {
    const { config } = ctx
    const origin = String(args._[0])
    if (!findMember(requireMembership(config), origin) || origin === config.node) throw new UsageError(`ORIGIN: "${origin}" is not a peer of this node`)
    if (Boolean(args.off) === Boolean(args.user)) throw new UsageError('give exactly one of --user NAME or --off')
    if (args.user && !lookupAccount(args.user)) throw new UsageError(`--user: there is no account "${args.user}" here`, `famlab user add ${args.user}`)
    const held = listSnapshots(storage(config).replicasOf(origin))
    if (args.user && held.length === 0) throw new UsageError(`ORIGIN: this node holds no complete replica of ${origin}`)

    // The share list, its smb.conf part, and smbd told to read it
    const others = loadReplicaShares(config).filter((s) => s.origin !== origin)
    saveReplicaShares(config, args.off ? others : [...others, { origin, user: args.user }])
    const reload = await run(['smbcontrol', '--configfile', smbConfPath(ctx.env), 'smbd', 'reload-config'])
    if (!reload.ok) ctx.log.warn('share-replica', `smbd did not reload (${reload.stdout.trim() || reload.stderr.trim() || `exit ${reload.code}`}); it reads the change when it next starts`)

    const share = replicaShareName(origin)
    recordStep(ctx, { step: 'share-replica', peer: origin, result: 'ok', message: args.off ? `${share} off` : `${share} for ${args.user}` })
    process.stdout.write(args.off ? `[${share}] is no longer shared\n` : `[${share}]: ${held.length} snapshots of ${origin}, read-only, for ${args.user}\n`)
    return 0
  })
}

runIfMain(import.meta.url, main)
