#!/usr/bin/env tsx
// famlab rotate-key: gives this node a new SSH key. The members are told with the old key; from
// then on only the new one works. Members that are offline learn it from the others.
// Exit 0 done, 1 failed (nothing changed), 2 bad config, 75 busy.
import { renameSync, rmSync } from 'node:fs'
import { runCommand } from '../lib/cli.ts'
import { FamlabError, runIfMain } from '../lib/exit.ts'
import { propagateMembership, readConfiguredKey, refreshSshFiles, requireMembership, withMembershipLock } from '../lib/family.ts'
import { recordStep } from '../lib/history.ts'
import { keyFingerprint } from '../lib/hostkeys.ts'
import { withLock } from '../lib/lock.ts'
import { findMember, mergeMemberships, peersOf, saveMembership, withMember } from '../lib/members.ts'
import { state } from '../lib/paths.ts'
import { generateKeyPair } from '../lib/ssh.ts'
import { chownToServiceUser } from '../lib/state.ts'

const usage = `
famlab rotate-key [--dry-run] [--config FILE]

Replaces this node's SSH key (ssh.identity). Every reachable member is told, through the
old key, to authorize the new one instead; the old key is then revoked for good (a member
list that still has it is refused). Members that are offline learn it from the others on
their next contact. Needs at least one member to be reachable when the family has any.

Options:
  --dry-run   say what would change, change nothing

Exit codes: 0 done, 1 failed (nothing changed), 2 bad config, 75 busy.
Example: famlab rotate-key
`

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage, boolean: ['dry-run'] }, async (ctx) => {
    const { config } = ctx
    const identity = state(config).identity
    const membership = requireMembership(config)
    const self = findMember(membership, config.node)
    if (!self) throw new FamlabError(`${config.node} is not in its own member list`)
    const peers = peersOf(membership, config.node).map((m) => m.name)
    if (ctx.dryRun) {
      ctx.log.warn('rotate-key', `[dry-run] would replace ${identity} (${keyFingerprint(self.key)}) and tell ${peers.join(', ') || 'no one'}`)
      return 0
    }

    return withLock(state(config).lock, async () => {
      // A new key beside the old one; the members are told through the old one
      const fresh = `${identity}.new`
      rmSync(fresh, { force: true })
      rmSync(`${fresh}.pub`, { force: true })
      await generateKeyPair(fresh, `famlab:${config.node}`)
      const newKey = readConfiguredKey(config, `${fresh}.pub`, 'ssh.identity')
      const updated = withMember(membership, { ...self, key: newKey }, 'rotated', ctx.clock.now().toISOString())
      const told = await propagateMembership(ctx, updated, [])
      const reached = Object.entries(told).filter(([, result]) => result.startsWith('updated')).map(([peer]) => peer)
      if (peers.length > 0 && reached.length === 0) {
        rmSync(fresh, { force: true })
        rmSync(`${fresh}.pub`, { force: true })
        throw new FamlabError(`no member could be told (${Object.entries(told).map(([p, r]) => `${p}: ${r}`).join('; ')}); the old key stays, nothing was changed`)
      }

      // From here on only the new key works
      for (const suffix of ['', '.pub']) {
        chownToServiceUser(config, `${fresh}${suffix}`)
        renameSync(`${fresh}${suffix}`, `${identity}${suffix}`)
      }
      withMembershipLock(config, () => {
        const merged = mergeMemberships(requireMembership(config), updated)
        saveMembership(config, merged)
        refreshSshFiles(ctx, merged)
      })
      recordStep(ctx, { step: 'rotate-key', result: 'ok', message: `new key ${keyFingerprint(newKey)} (was ${keyFingerprint(self.key)}); told ${reached.join(', ') || 'no one'}` })
      process.stdout.write(`${config.node}: new key ${keyFingerprint(newKey)}\n`)
      for (const [peer, result] of Object.entries(told)) {
        ctx.log[result.startsWith('updated') ? 'info' : 'warn']('rotate-key', result.startsWith('updated') ? result : `${result}; it will learn from the other members`, peer)
      }
      return 0
    })
  })
}

runIfMain(import.meta.url, main)
