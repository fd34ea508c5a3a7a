#!/usr/bin/env tsx
// famlab add-peer TOKEN: joins this node to the family of the node that printed the invite.
// Exit 0 joined, 1 refused or failed (nothing changed), 2 bad token or config.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import SSHConfig from 'ssh-config'
import { runCommand } from '../lib/cli.ts'
import { FamlabError, runIfMain, UsageError } from '../lib/exit.ts'
import { refreshSshFiles, requireMembership, selfMember, withMembershipLock, type Propagation } from '../lib/family.ts'
import { recordStep } from '../lib/history.ts'
import { openSshPrivateKey } from '../lib/keys.ts'
import { findMember, membershipProblem, normalizeMembership, peersOf, saveMembership, type Membership } from '../lib/members.ts'
import { clientOptions, hostAlias, requestPeer } from '../lib/ssh.ts'
import { decodeToken, type InviteToken } from '../lib/token.ts'

const usage = `
famlab add-peer TOKEN [--config FILE]

Joins this node (prepared with famlab init) to a family, using a token printed by
famlab invite on any member. Every reachable member learns and authorizes this node;
this node learns and pins every member. The token works once.

Exit codes: 0 joined, 1 refused or failed (nothing changed), 2 bad token or config.
Example: famlab add-peer famlab1.eyJu….Xy12Ab
`

/** A throwaway ssh setup that can reach only the inviter, with the token's key and pinned host key. */
function writeJoinSshConfig(dir: string, token: InviteToken): string[] {
  const keyFile = join(dir, 'invite_key')
  const knownHosts = join(dir, 'known_hosts')
  const configFile = join(dir, 'ssh_config')
  writeFileSync(keyFile, openSshPrivateKey(token.seed, `famlab-invite:${token.id}`), { mode: 0o600 })
  writeFileSync(knownHosts, `${hostAlias(token.inviter)} ${token.hostKey}\n`, { mode: 0o600 })
  const doc = new SSHConfig()
  doc.append({
    Host: hostAlias(token.inviter), HostName: token.host, Port: String(token.port), User: token.user,
    HostKeyAlias: hostAlias(token.inviter), IdentityFile: keyFile, IdentitiesOnly: 'yes', ...clientOptions(knownHosts),
  })
  writeFileSync(configFile, SSHConfig.stringify(doc), { mode: 0o600 })
  return ['ssh', '-F', configFile]
}

/** ssh's terse failures, said in terms of the invite. */
function joinRefusal(token: InviteToken, message: string): string {
  if (/host key/i.test(message)) {
    return `the host at ${token.host}:${token.port} is not ${token.inviter}: its host key differs from the one in the invite (a man in the middle, or the wrong address)`
  }
  if (/permission denied/i.test(message)) return `${token.inviter} did not accept this invite: it was already used, has expired, or was not issued by ${token.inviter}`
  return `${token.inviter} refused the join: ${message}`
}

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage, positional: [1, 1] }, async (ctx, args) => {
    const { config } = ctx
    const token = decodeToken(String(args._[0]))
    if (typeof token === 'string') throw new UsageError(`TOKEN: ${token}`)
    if (token.expires * 1000 <= ctx.clock.now().getTime()) {
      throw new FamlabError(`this invite expired at ${new Date(token.expires * 1000).toISOString()}; ask ${token.inviter} for a new one`)
    }
    const current = requireMembership(config)
    if (peersOf(current, config.node).length > 0) {
      throw new FamlabError(`this node is already in a family with ${peersOf(current, config.node).map((m) => m.name).join(', ')}`)
    }
    if (token.inviter === config.node) throw new FamlabError(`the invite comes from a node with this node's own name "${config.node}"`)
    const self = selfMember(config, ctx.clock.now().toISOString())

    // Ask the inviter to take us in; it tells the other members itself
    const dir = mkdtempSync(join(tmpdir(), 'famlab-join-'))
    let joined: { membership: Membership; propagated: Propagation }
    try {
      const answer = await requestPeer<typeof joined>(ctx, token.inviter, ['join'], { member: self }, writeJoinSshConfig(dir, token))
      if (answer.outcome !== 'ok') throw new FamlabError(joinRefusal(token, answer.message), 'nothing was changed')
      joined = answer.data
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }

    // Adopt the family's member list, checking it is the one we asked to join
    const problem = membershipProblem(joined.membership)
    const membership = problem ? undefined : normalizeMembership(joined.membership)
    if (!membership || findMember(membership, config.node)?.key !== self.key || findMember(membership, token.inviter)?.host_key !== token.hostKey) {
      throw new FamlabError(`${token.inviter} answered with a member list that does not match this invite${problem ? ` (${problem})` : ''}`)
    }
    withMembershipLock(config, () => {
      saveMembership(config, membership)
      refreshSshFiles(ctx, membership)
    })

    const reached = Object.entries(joined.propagated).map(([name, result]) => `${name}: ${result}`)
    recordStep(ctx, { step: 'add-peer', peer: token.inviter, result: 'ok', message: `member list version ${membership.version}` })
    process.stdout.write(`joined the family through ${token.inviter}: ${membership.members.map((m) => m.name).join(', ')} (version ${membership.version})\n`)
    for (const line of reached) ctx.log.info('add-peer', line)
    return 0
  })
}

runIfMain(import.meta.url, main)
