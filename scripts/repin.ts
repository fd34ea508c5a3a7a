#!/usr/bin/env tsx
// famlab repin NAME: the admin's explicit acceptance of a member's new sshd host key, after
// checking its fingerprint on that box. famlab never re-pins by itself. The other members learn
// the new pin with the member list.
// Exit 0 done, 1 failed (nothing changed), 2 bad arguments or config, 75 busy.
import { runCommand } from '../lib/cli.ts'
import { FamlabError, runIfMain, UsageError } from '../lib/exit.ts'
import { propagateMembership, refreshSshFiles, requireMembership, withMembershipLock } from '../lib/family.ts'
import { recordStep } from '../lib/history.ts'
import { clearHostKeyRefusal, keyFingerprint, scanHostKey } from '../lib/hostkeys.ts'
import { keyOnly } from '../lib/keys.ts'
import { withLock } from '../lib/lock.ts'
import { findMember, saveMembership, withMember } from '../lib/members.ts'
import { state } from '../lib/paths.ts'

const usage = `
famlab repin NAME (--fingerprint SHA256:… | --host-key 'ssh-ed25519 AAAA…') [--dry-run] [--config FILE]

Pins a new sshd host key for member NAME, after its host key changed (a reinstalled OS, a
new box). Read the fingerprint on NAME itself (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)
and give it here: famlab fetches the key NAME presents now and pins it only if it matches.
Or give the whole public key with --host-key. Every other member learns the new pin.

Options:
  --fingerprint FP   the SHA256 fingerprint read on NAME; the presented key must match it
  --host-key KEY     the whole public key line (ssh-ed25519 AAAA…) to pin
  --dry-run          check and say what would change, change nothing

Exit codes: 0 done, 1 failed (nothing changed), 2 bad arguments or config, 75 busy.
Example: famlab repin bob --fingerprint SHA256:3bN1x…
`

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/
const PUBLIC_KEY = /^ssh-ed25519 [A-Za-z0-9+/]+={0,2}$/

export async function main(argv: string[]): Promise<number> {
  const spec = { usage, string: ['fingerprint', 'host-key'], boolean: ['dry-run'], positional: [1, 1] as [number, number] }
  return runCommand(argv, spec, async (ctx, args) => {
    const name = String(args._[0])
    const given = { fingerprint: args.fingerprint as string | undefined, hostKey: args['host-key'] ? keyOnly(args['host-key']) : undefined }
    if (Boolean(given.fingerprint) === Boolean(given.hostKey)) throw new UsageError('give exactly one of --fingerprint or --host-key')
    if (given.fingerprint && !FINGERPRINT.test(given.fingerprint)) throw new UsageError(`--fingerprint: "${given.fingerprint.slice(0, 60)}" is not a SHA256:… fingerprint as ssh-keygen -l prints it`)
    if (given.hostKey && !PUBLIC_KEY.test(given.hostKey)) throw new UsageError('--host-key: not an ssh-ed25519 public key line')
    const member = findMember(requireMembership(ctx.config), name)
    if (!member || name === ctx.config.node) throw new UsageError(`NAME: "${name.slice(0, 40)}" is not another member of this family`, 'See famlab peers.')

    // The key to pin: the one given, or the one presented now if it matches the fingerprint
    let hostKey = given.hostKey
    if (given.fingerprint) {
      const presented = await scanHostKey(member)
      if (!presented) throw new FamlabError(`${name} at ${member.host}:${member.port} did not show an ssh-ed25519 host key; nothing was changed`)
      if (keyFingerprint(presented) !== given.fingerprint) {
        throw new FamlabError(`${name} at ${member.host}:${member.port} presents ${keyFingerprint(presented)}, not ${given.fingerprint}; nothing was changed`, 'check the fingerprint on the box itself; a mismatch may be a man in the middle')
      }
      hostKey = presented
    }
    if (hostKey === member.host_key) {
      clearHostKeyRefusal(ctx.config, name)
      process.stdout.write(`${name}: ${keyFingerprint(hostKey!)} is already pinned\n`)
      return 0
    }
    if (ctx.dryRun) {
      ctx.log.warn('repin', `[dry-run] would pin ${keyFingerprint(hostKey!)} for ${name} (was ${keyFingerprint(member.host_key)}) and tell the other members`)
      return 0
    }

    return withLock(state(ctx.config).lock, async () => {
      const updated = withMembershipLock(ctx.config, () => {
        const current = requireMembership(ctx.config)
        const fresh = findMember(current, name) ?? member
        const next = withMember(current, { ...fresh, host_key: hostKey! }, 'repinned', ctx.clock.now().toISOString())
        saveMembership(ctx.config, next)
        refreshSshFiles(ctx, next)
        return next
      })
      clearHostKeyRefusal(ctx.config, name)
      recordStep(ctx, { step: 'repin', peer: name, result: 'ok', message: `pinned ${keyFingerprint(hostKey!)} (was ${keyFingerprint(member.host_key)}); member list version ${updated.version}` })
      process.stdout.write(`${name}: pinned ${keyFingerprint(hostKey!)}\n`)
      for (const [peer, result] of Object.entries(await propagateMembership(ctx, updated, []))) ctx.log.info('repin', result, peer)
      return 0
    })
  })
}

runIfMain(import.meta.url, main)
