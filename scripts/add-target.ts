#!/usr/bin/env tsx
// famlab add-target NAME: adds a bare offsite target (sshd + rsync + hard links, no famlab there).
// Exit 0 added, 1 the target could not be reached or used (nothing saved), 2 bad arguments or config.
import { existsSync, readFileSync } from 'node:fs'
import { runCommand } from '../lib/cli.ts'
import { FamlabError, runIfMain, UsageError } from '../lib/exit.ts'
import { requireMembership } from '../lib/family.ts'
import { recordStep } from '../lib/history.ts'
import { keyOnly } from '../lib/keys.ts'
import { withLock } from '../lib/lock.ts'
import { findMember } from '../lib/members.ts'
import { state } from '../lib/paths.ts'
import { runOnTarget } from '../lib/target-store.ts'
import { loadTargets, parseSshSpec, saveTargets, targetDir, targetProblem, type Target } from '../lib/targets.ts'

const usage = `
famlab add-target NAME --ssh USER@HOST[:PORT] --path DIR --host-key KEY [--config FILE]

Adds a bare target: a VPS or NAS that has only sshd, rsync and a filesystem with hard
links and user xattrs (ext4, xfs, btrfs) — no famlab there. backup and replicate send
every snapshot to DIR/<this node>/ on it the same way as to a peer (.incomplete, renamed
when complete, rsync --link-dest, owners and modes kept with --fake-super), and this
node's prune applies retention.replicas there.

Before adding it, authorize this node's key for USER on the target (~USER/.ssh/authorized_keys);
famlab add-target checks that it can log in, write DIR and make hard links there.
Note: the account can run any command, so unlike a peer a bare target cannot keep
a compromised home from deleting its own history there.

Options:
  --ssh USER@HOST[:PORT]   the account on the target (port 22 by default)
  --path DIR               absolute directory on the target
  --host-key KEY           the target's sshd host key, pinned: "ssh-ed25519 AAAA…" or a .pub file
                           (on the target: cat /etc/ssh/ssh_host_ed25519_key.pub)

Exit codes: 0 added, 1 the target could not be reached or used (nothing saved),
2 bad arguments or config.
Example: famlab add-target vps --ssh backup@vps.example:2222 --path /srv/backup --host-key /tmp/vps.pub
`

function readHostKey(value: string): string {
  if (!value.startsWith('ssh-') && !value.startsWith('ecdsa-') && existsSync(value)) return keyOnly(readFileSync(value, 'utf8'))
  return keyOnly(value)
}

export async function main(argv: string[]): Promise<number> {
  const spec = { usage, positional: [1, 1] as [number, number], string: ['ssh', 'path', 'host-key'] }
  return runCommand(argv, spec, async (ctx, args) => {
    const { config } = ctx
    for (const option of ['ssh', 'path', 'host-key']) if (!args[option]) throw new UsageError(`--${option} is required`, 'See --help.')
    const account = parseSshSpec(args.ssh)
    if (typeof account === 'string') throw new UsageError(`--ssh: ${account}`)
    const target: Target = { name: String(args._[0]), ...account, path: args.path, host_key: readHostKey(args['host-key']), added: ctx.clock.now().toISOString() }
    const problem = targetProblem(target)
    if (problem) throw new UsageError(`NAME/--path/--host-key: ${problem}`)
    if (findMember(requireMembership(config), target.name)) throw new UsageError(`NAME: "${target.name}" is already a member of the family`)

    return withLock(state(config).lock, async () => {
      // Save, then prove it works; a target we cannot use is taken out again
      const previous = loadTargets(config)
      saveTargets(config, [...previous.filter((t) => t.name !== target.name), target])
      const probe = await runOnTarget(ctx, target, 'command -v rsync >/dev/null && touch .famlab-probe && ln -f .famlab-probe .famlab-probe-link && rm -f .famlab-probe .famlab-probe-link')
      if (!probe.ok) {
        saveTargets(config, previous)
        const key = readFileSync(`${config.ssh.identity}.pub`, 'utf8').trim()
        throw new FamlabError(`${target.name} cannot be used (${probe.outcome}): ${probe.message}`, `authorize this node's key for ${target.user} there: ${key}`)
      }
      recordStep(ctx, { step: 'add-target', peer: target.name, result: 'ok', message: `${target.user}@${target.host}:${target.port}:${targetDir(config, target)}` })
      process.stdout.write(`added target ${target.name}: ${target.user}@${target.host}:${target.port}:${targetDir(config, target)}\n`)
      return 0
    })
  })
}

runIfMain(import.meta.url, main)
