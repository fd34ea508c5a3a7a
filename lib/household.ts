// Household members: a Unix account in HOUSEHOLD_GROUP, a Samba password, and their two share
// directories under local/ (Time Machine and File History), owned by them and closed to others.
import { chownSync, chmodSync, existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Config } from './config.ts'
import { run, runChecked } from './exec.ts'
import { UsageError } from './exit.ts'
import { storage } from './paths.ts'
import { FILEHISTORY_SHARE, HOUSEHOLD_GROUP, TIMEMACHINE_SHARE } from './samba.ts'
import { lookupAccount, type Account } from './state.ts'

export const MEMBER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/
/** The GECOS of accounts famlab created, so `user remove` deletes only those. */
const ACCOUNT_COMMENT = 'famlab household member'

export function checkMemberName(name: string): string {
  if (!MEMBER_NAME.test(name)) throw new UsageError(`"${name}" is not a valid user name (expected [a-z_][a-z0-9_-]{0,31})`)
  return name
}

export function shareDirs(config: Config, name: string): { timemachine: string; filehistory: string } {
  const { local } = storage(config)
  return { timemachine: join(local, TIMEMACHINE_SHARE, name), filehistory: join(local, FILEHISTORY_SHARE, name) }
}

async function ensureGroup(): Promise<void> {
  if ((await run(['getent', 'group', HOUSEHOLD_GROUP])).ok) return
  const added = await run(['groupadd', '--system', HOUSEHOLD_GROUP])
  if (!added.ok && !(await run(['getent', 'group', HOUSEHOLD_GROUP])).ok) throw new Error(`groupadd ${HOUSEHOLD_GROUP}: ${added.stderr.trim()}`)
}

/** An existing Unix account joins the household; otherwise one without login is created. */
export async function ensureMemberAccount(name: string): Promise<{ account: Account; created: boolean }> {
  await ensureGroup()
  const existing = lookupAccount(name)
  if (existing) await runChecked(['usermod', '--append', '--groups', HOUSEHOLD_GROUP, name])
  else {
    await runChecked(['useradd', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin',
      '--comment', ACCOUNT_COMMENT, '--groups', HOUSEHOLD_GROUP, name])
  }
  return { account: lookupAccount(name)!, created: !existing }
}

/** Adds the Samba account, or changes its password. */
export async function setSambaPassword(smbConf: string, name: string, password: string): Promise<void> {
  await runChecked(['smbpasswd', '-c', smbConf, '-s', '-a', name], { input: `${password}\n${password}\n` })
}

/** Share roots readable by all (smbd must traverse them), each member's directory only by them. */
export function createShareDirs(config: Config, account: Account): string[] {
  const dirs = Object.values(shareDirs(config, account.name))
  for (const dir of dirs) {
    mkdirSync(join(dir, '..'), { recursive: true, mode: 0o755 })
    if (!existsSync(dir)) mkdirSync(dir, { mode: 0o700 })
    chownSync(dir, account.uid, account.gid)
    chmodSync(dir, 0o700)
  }
  return dirs
}

/** Names with a Samba account that are in the household group. */
export async function listMembers(smbConf: string): Promise<string[]> {
  const listed = await runChecked(['pdbedit', `--configfile=${smbConf}`, '--list'])
  const group = await run(['getent', 'group', HOUSEHOLD_GROUP])
  const inGroup = new Set(group.ok ? group.stdout.trim().split(':')[3]?.split(',') ?? [] : [])
  return listed.split('\n').map((line) => line.split(':')[0]).filter((name) => name && inGroup.has(name)).sort()
}

export async function removeSambaAccount(smbConf: string, name: string): Promise<void> {
  const removed = await run(['smbpasswd', '-c', smbConf, '-x', name])
  if (!removed.ok && !/Failed to find entry/i.test(removed.stdout + removed.stderr)) {
    throw new Error(`smbpasswd -x ${name} failed: ${(removed.stderr || removed.stdout).trim()}`)
  }
}

/** Leaves the household group; the account itself goes only if famlab created it. */
export async function removeMemberAccount(name: string): Promise<'deleted' | 'kept'> {
  const passwd = await run(['getent', 'passwd', name])
  if (!passwd.ok) return 'kept'
  if (passwd.stdout.split(':')[4] === ACCOUNT_COMMENT) {
    await runChecked(['userdel', name])
    return 'deleted'
  }
  await run(['gpasswd', '--delete', name, HOUSEHOLD_GROUP])
  return 'kept'
}
