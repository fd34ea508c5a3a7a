#!/usr/bin/env tsx
// famlab user add|list|remove: the household members who back up to this node over SMB.
// Exit 0 done, 1 failed, 2 usage or config error.
import { existsSync, readFileSync } from 'node:fs'
import { runCommand, type Args } from '../lib/cli.ts'
import type { Context } from '../lib/context.ts'
import { change, run } from '../lib/exec.ts'
import { FamlabError, runIfMain, UsageError } from '../lib/exit.ts'
import { recordStep } from '../lib/history.ts'
import { removeTree } from '../lib/btrfs.ts'
import {
  checkMemberName, createShareDirs, ensureMemberAccount, listMembers, removeMemberAccount, removeSambaAccount,
  setSambaPassword, shareDirs,
} from '../lib/household.ts'
import { smbConfPath } from '../lib/samba.ts'

const usage = `
famlab user add NAME | list [--json] | remove NAME [--keep-data] [--dry-run]

Household members back up their Macs (Time Machine) and PCs (File History) to this node.
  add NAME     creates the Samba account (password from stdin, or asked for on a terminal;
               run again to change it), the Unix account if there is none (no login), and
               <root>/local/timemachine/NAME and <root>/local/filehistory/NAME (mode 0700)
  list         the members with a Samba account
  remove NAME  removes the Samba account and both share directories (--keep-data keeps them);
               the backups already in snapshots and on the peers stay until retention
Samba's config is $FAMLAB_SMB_CONF, else /etc/samba/smb.conf.

Exit codes: 0 done, 1 failed, 2 usage or config error.
Example: echo 'secret' | famlab user add anna
`

/** The first line of stdin; on a terminal, undefined: smbpasswd will ask, twice, without echo. */
function passwordFromStdin(name: string): string | undefined {
  if (process.stdin.isTTY) return undefined
  const password = readFileSync(0, 'utf8').split('\n')[0]
  if (!password) throw new UsageError('no password on stdin', `echo PASSWORD | famlab user add ${name}`)
  return password
}

async function askPassword(smbConf: string, name: string): Promise<void> {
  const asked = await run(['smbpasswd', '-c', smbConf, '-a', name], { inherit: true })
  if (!asked.ok) throw new FamlabError(`smbpasswd could not set the password of ${name}`)
}

async function addMember(ctx: Context, name: string, smbConf: string): Promise<number> {
  if (!existsSync(smbConf)) throw new FamlabError(`${smbConf} does not exist`, 'famlab smb-conf > /etc/samba/smb.conf (make install does it)')
  const password = passwordFromStdin(name)
  const { account, created } = await ensureMemberAccount(name)
  if (password === undefined) await askPassword(smbConf, name)
  else await setSambaPassword(smbConf, name, password)
  const dirs = createShareDirs(ctx.config, account)
  recordStep(ctx, { step: 'user-add', result: 'ok', message: name })
  ctx.log.info('user', `${name}: ${created ? 'new account' : 'existing account'}, shares ${dirs.join(' and ')}`)
  return 0
}

async function removeMember(ctx: Context, name: string, smbConf: string, keepData: boolean): Promise<number> {
  await change(ctx, 'user', `remove the Samba account ${name}`, () => removeSambaAccount(smbConf, name))
  if (!keepData) {
    for (const dir of Object.values(shareDirs(ctx.config, name)).filter(existsSync)) {
      await change(ctx, 'user', `delete ${dir}`, () => removeTree(dir))
    }
  }
  const account = await change(ctx, 'user', `take ${name} out of the household`, () => removeMemberAccount(name))
  if (ctx.dryRun) return 0
  recordStep(ctx, { step: 'user-remove', result: 'ok', message: `${name}${keepData ? ' (data kept)' : ''}` })
  ctx.log.info('user', `${name} removed; Unix account ${account}${keepData ? '; share directories kept' : ''}`)
  return 0
}

export async function main(argv: string[]): Promise<number> {
  const spec = { usage, boolean: ['json', 'keep-data', 'dry-run'], positional: [1, 2] as [number, number] }
  return runCommand(argv, spec, async (ctx, args: Args) => {
    const [action, name] = args._.map(String)
    const smbConf = smbConfPath(ctx.env)
    const needsName = () => checkMemberName(name ?? '')
    switch (action) {
      case 'add':
        return addMember(ctx, needsName(), smbConf)
      case 'remove':
        return removeMember(ctx, needsName(), smbConf, args['keep-data'])
      case 'list': {
        if (name) throw new UsageError(`unexpected argument "${name}"`)
        const members = await listMembers(smbConf)
        const rows = members.map((member) => ({ name: member, ...shareDirs(ctx.config, member) }))
        process.stdout.write(args.json ? `${JSON.stringify(rows, null, 2)}\n` : rows.map((r) => `${r.name}\t${r.timemachine}\t${r.filehistory}\n`).join(''))
        return 0
      }
    }
    throw new UsageError(`unknown action "${action}" (expected add, list or remove)`)
  })
}

runIfMain(import.meta.url, main)
