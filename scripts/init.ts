#!/usr/bin/env tsx
// famlab init: prepares this node — state dir, node key, storage layout, a family of one.
// Idempotent. Exit 0 done, 1 failed, 2 bad config.
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs'
import { isBtrfs, createSubvolume } from '../lib/btrfs.ts'
import { formatSizeMiB, householdBytes, readDisk } from '../lib/capacity.ts'
import { runCommand } from '../lib/cli.ts'
import type { Context } from '../lib/context.ts'
import { FamlabError, runIfMain } from '../lib/exit.ts'
import { readConfiguredKey, refreshSshFiles, selfMember } from '../lib/family.ts'
import { recordStep } from '../lib/history.ts'
import { loadMembership, saveMembership, findMember, sameEntry, withMember } from '../lib/members.ts'
import { state, storage } from '../lib/paths.ts'
import { limitSubvolume } from '../lib/qgroups.ts'
import { generateKeyPair } from '../lib/ssh.ts'
import { chownToServiceUser, ensureStateDir, lookupAccount } from '../lib/state.ts'

const usage = `
famlab init [--config FILE]

Prepares this node: the state directory, the node's SSH key, the storage layout under
root (local/ as a btrfs subvolume, snapshots/, replicas/) and a family with this node alone.
Safe to run again: it only creates what is missing and refreshes generated files.

Exit codes: 0 done, 1 failed, 2 bad config.
Example: famlab init --config /etc/famlab/famlab.yaml
`

function refuseWorldWritable(path: string, field: string, file: string): void {
  if (existsSync(path) && (statSync(path).mode & 0o002) !== 0) {
    throw new FamlabError(`${file}: ${field}: ${path} is world-writable; famlab refuses to use it`, `chmod o-w ${path}`)
  }
}

/** The capacity agreement on disk: local/ may reference at most capacity.local_fraction of it. */
async function limitHousehold(ctx: Context): Promise<void> {
  const disk = readDisk(ctx.config.root)
  if (!disk) return
  const limit = householdBytes(ctx.config, disk)
  await limitSubvolume(ctx.config.root, storage(ctx.config).local, limit)
  ctx.log.info('init', `local/ limited to ${formatSizeMiB(limit)} (capacity.local_fraction ${ctx.config.capacity.local_fraction}); the rest is offered to the family`)
}

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage }, async (ctx) => {
    const { config } = ctx
    const paths = storage(config)
    const files = state(config)
    if (process.getuid?.() !== 0) throw new FamlabError('init must run as root (it creates subvolumes and gives replicas/ to ssh.user)')
    const account = lookupAccount(config.ssh.user)
    if (!account) throw new FamlabError(`${config.file}: ssh.user: the account "${config.ssh.user}" does not exist`, 'make install creates it, or: useradd --system --shell /bin/sh famlab')
    if (!existsSync(config.root)) throw new FamlabError(`${config.file}: root: ${config.root} does not exist`)
    refuseWorldWritable(config.root, 'root', config.file)
    refuseWorldWritable(config.state, 'state', config.file)
    readConfiguredKey(config, config.ssh.host_key, 'ssh.host_key')

    // State directory and node key
    ensureStateDir(config, files.dir)
    if (!existsSync(files.identity)) {
      await generateKeyPair(files.identity, `famlab:${config.node}`)
      chownToServiceUser(config, files.identity)
      chownToServiceUser(config, `${files.identity}.pub`)
      ctx.log.info('init', `created node key ${files.identity}`)
    }

    // Storage layout: local/ is what this household backs up; replicas/ belongs to ssh.user
    if (!existsSync(paths.local)) {
      if (isBtrfs(config.root)) await createSubvolume(paths.local)
      else mkdirSync(paths.local)
      ctx.log.info('init', `created ${paths.local}${isBtrfs(config.root) ? ' (btrfs subvolume)' : ''}`)
    }
    if (!isBtrfs(config.root)) ctx.log.warn('init', `${config.root} is not btrfs: this node can hold replicas but not take snapshots`)
    else await limitHousehold(ctx)
    // Household members open their own old versions over SMB (Previous Versions) as themselves;
    // each snapshot keeps local/'s permissions, so this only shows the snapshot names.
    if (!existsSync(paths.snapshots)) mkdirSync(paths.snapshots)
    chmodSync(paths.snapshots, 0o755)
    if (!existsSync(paths.replicas)) mkdirSync(paths.replicas, { mode: 0o700 })
    chownToServiceUser(config, paths.replicas)
    chmodSync(paths.replicas, 0o700)

    // A family of one, or this node's own entry brought up to date
    const now = ctx.clock.now().toISOString()
    const current = loadMembership(config)
    const self = selfMember(config, findMember(current ?? { version: 0, members: [] }, config.node)?.joined ?? now)
    const stored = current && findMember(current, config.node)
    const membership = !current ? { version: 1, members: [self] }
      : sameEntry(stored, self) ? current
      : withMember(current, self)
    if (membership !== current) saveMembership(config, membership)
    refreshSshFiles(ctx, membership)

    recordStep(ctx, { step: 'init', result: 'ok', message: `member list version ${membership.version}` })
    process.stdout.write(`node ${config.node} ready at ${config.root}; family of ${membership.members.length} (version ${membership.version})\n`)
    return 0
  })
}

runIfMain(import.meta.url, main)
