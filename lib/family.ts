// Joining and keeping the family in agreement: invites, join, and member-list updates.
import { readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { offeredBytes, readDisk } from './capacity.ts'
import type { Config } from './config.ts'
import type { Context } from './context.ts'
import { ConfigError, FamlabError } from './exit.ts'
import { keyOnly } from './keys.ts'
import { acquireLock } from './lock.ts'
import {
  findMember, isRevoked, loadMembership, membershipDigest, membershipProblem, mergeMemberships, normalizeMembership, peersOf,
  saveMembership, withMember, type Member, type Membership,
} from './members.ts'
import { state } from './paths.ts'
import { requestPeer, writeSshFiles, type PeerReply, type PendingInvite } from './ssh.ts'
import { chownToServiceUser, ensureStateDir, readJsonFile, readStateFile, writeStateFile } from './state.ts'

/** A public key a config field points at; a missing or foreign file is a config error. */
export function readConfiguredKey(config: Config, file: string, field: string): string {
  const text = readStateFile(file)
  if (!text || !/^ssh-ed25519 [A-Za-z0-9+/=]+/.test(text)) throw new ConfigError(`${config.file}: ${field}: ${file} is not a readable ssh-ed25519 public key`)
  return keyOnly(text)
}

/** This node as the family knows it, from its config, its key and its sshd host key. */
export function selfMember(config: Config, joined: string): Member {
  return {
    name: config.node,
    host: config.listen.host,
    port: config.listen.port,
    user: config.ssh.user,
    key: readConfiguredKey(config, `${config.ssh.identity}.pub`, 'ssh.identity'),
    host_key: readConfiguredKey(config, config.ssh.host_key, 'ssh.host_key'),
    joined,
    ...offeredSpace(config),
  }
}

/** What this node offers the family, announced with its membership: it weighs placement. */
function offeredSpace(config: Config): { offered_bytes?: number } {
  const disk = readDisk(config.root)
  return disk ? { offered_bytes: offeredBytes(config, disk) } : {}
}

export function requireMembership(config: Config): Membership {
  const membership = loadMembership(config)
  if (!membership) throw new FamlabError(`${config.state} has no family yet`, 'Run famlab init first.')
  return membership
}

// Invites

/** `reenroll`: the invite replaces that member's key (a reinstalled node) instead of adding a member. */
type InviteRecord = PendingInvite & { created: string; reenroll?: string }

const inviteFile = (config: Config, id: string) => join(state(config).invites, `${id}.json`)

export function pendingInvites(config: Config, now: Date): PendingInvite[] {
  const dir = state(config).invites
  let names: string[] = []
  try {
    names = readdirSync(dir).filter((n) => /^[0-9a-f]{16}\.json$/.test(n))
  } catch {
    return []
  }
  return names
    .map((n) => readJsonFile<InviteRecord>(join(dir, n)))
    .filter((r): r is InviteRecord => r !== undefined && r.expires * 1000 > now.getTime())
}

export function saveInvite(config: Config, invite: InviteRecord): void {
  ensureStateDir(config, state(config).invites)
  writeStateFile(config, inviteFile(config, invite.id), JSON.stringify(invite))
}

/** The invite while it is unused and unexpired; an expired one is deleted on sight. */
function validInvite(config: Config, id: string, now: Date): InviteRecord | undefined {
  const record = readJsonFile<InviteRecord>(inviteFile(config, id))
  if (record && record.expires * 1000 > now.getTime()) return record
  rmSync(inviteFile(config, id), { force: true })
  return undefined
}

// Member-list changes. All of them happen under the membership lock, which serve also takes.

export function refreshSshFiles(ctx: Context, membership: Membership): void {
  writeSshFiles(ctx.config, membership, pendingInvites(ctx.config, ctx.clock.now()))
}

export function withMembershipLock<T>(config: Config, body: () => T): T {
  ensureStateDir(config, config.state)
  const file = state(config).membershipLock
  const lock = acquireLock(file, { holder: 'a membership change', waitSeconds: 30 })
  chownToServiceUser(config, file)
  try {
    return body()
  } finally {
    lock.release()
  }
}

export type Adoption = { membership: Membership; changed: boolean }

/**
 * Merges a member list from a peer into ours. An older list adds nothing and is refused; one
 * that revokes this node's own key is refused too (this node was removed or re-enrolled elsewhere).
 */
export function adoptMembership(ctx: Context, from: string, received: unknown): Adoption {
  const problem = membershipProblem(received)
  if (problem) throw new FamlabError(`the member list from ${from} is invalid: ${problem}`)
  const incoming = normalizeMembership(received as Membership)
  return withMembershipLock(ctx.config, () => {
    const current = requireMembership(ctx.config)
    const merged = mergeMemberships(current, incoming)
    if (membershipDigest(merged) === membershipDigest(current)) {
      if (membershipDigest(incoming) !== membershipDigest(current) || incoming.version < current.version) {
        throw new FamlabError(`the member list from ${from} (version ${incoming.version}) is older than ours (version ${current.version})`)
      }
      return { membership: current, changed: false }
    }
    const ours = findMember(current, ctx.config.node)
    if (!ours || findMember(merged, ctx.config.node)?.key !== ours.key) {
      throw new FamlabError(`the member list from ${from} (version ${incoming.version}) removes this node or revokes its key; not adopted`)
    }
    saveMembership(ctx.config, merged)
    refreshSshFiles(ctx, merged)
    return { membership: merged, changed: true }
  })
}

/** The inviter's side of a join: checks the invite and the joiner, then spends the invite. */
export function acceptJoin(ctx: Context, inviteId: string, joiner: Member): Membership {
  return withMembershipLock(ctx.config, () => {
    const now = ctx.clock.now()
    const invite = validInvite(ctx.config, inviteId, now)
    const current = requireMembership(ctx.config)
    if (!invite) {
      refreshSshFiles(ctx, current)
      throw new FamlabError('this invite was already used or has expired; ask for a new one')
    }
    if (joiner.name === ctx.config.node) throw new FamlabError(`"${joiner.name}" is the inviting node's own name`)
    const existing = findMember(current, joiner.name)
    if (invite.reenroll && joiner.name !== invite.reenroll) {
      throw new FamlabError(`this invite re-enrolls "${invite.reenroll}", but the joining node is named "${joiner.name}"`)
    }
    if (!invite.reenroll && existing) {
      throw new FamlabError(`"${joiner.name}" is already a member`, `to give it a new key, run famlab invite --reenroll ${joiner.name} on a member`)
    }
    if (isRevoked(current, joiner.name, joiner.key)) {
      throw new FamlabError(`the key of "${joiner.name}" was revoked`, 'make a new node key (delete ssh.identity and run famlab init), then join again')
    }
    rmSync(inviteFile(ctx.config, inviteId), { force: true })
    const reason = invite.reenroll ? `re-enrolled through ${ctx.config.node}` : 'replaced'
    const updated = withMember(current, { ...joiner, joined: existing?.joined || now.toISOString() }, reason, now.toISOString())
    saveMembership(ctx.config, updated)
    refreshSshFiles(ctx, updated)
    return updated
  })
}

export type Propagation = Record<string, string>

/** Tells every other member about a new list; the ones we cannot reach learn on next contact. */
export async function propagateMembership(ctx: Context, membership: Membership, skip: string[]): Promise<Propagation> {
  const results: Propagation = {}
  for (const peer of peersOf(membership, ctx.config.node)) {
    if (skip.includes(peer.name)) continue
    results[peer.name] = await sendMembership(ctx, peer.name, membership)
  }
  return results
}

/** Sends our list; when the peer knew more, its merged answer comes back and we adopt it too. */
async function sendMembership(ctx: Context, peer: string, membership: Membership): Promise<string> {
  const reply = await requestPeer<{ version: number; membership?: Membership }>(ctx, peer, ['peers-update'], membership)
  if (reply.outcome !== 'ok') return `${reply.outcome}: ${reply.message}`
  if (reply.data.membership && membershipDigest(normalizeMembership(reply.data.membership)) !== membershipDigest(membership)) {
    try {
      adoptMembership(ctx, peer, reply.data.membership)
    } catch (err) {
      if (!(err instanceof FamlabError)) throw err
      return `updated, but its answer was not adopted: ${err.message}`
    }
  }
  return `updated to version ${reply.data.version}`
}

/** What `status` tells about the holder's member list. */
export type MembershipSummary = { version: number; membership_digest?: string }

/** Brings a peer and us to the same member list: both end with the merge of the two. */
export async function syncMembership(ctx: Context, peer: Member, theirs: MembershipSummary): Promise<string | undefined> {
  const ours = requireMembership(ctx.config)
  // Same content is agreement, whatever the version numbers say; without a digest, trust the version.
  const agreed = theirs.membership_digest ? theirs.membership_digest === membershipDigest(ours) : theirs.version === ours.version
  if (agreed) return undefined
  const fetched = await requestPeer<Membership>(ctx, peer.name, ['peers'])
  if (fetched.outcome !== 'ok') return `could not fetch the member list: ${fetched.message}`
  const problem = membershipProblem(fetched.data)
  if (problem) return `its member list is invalid: ${problem}`
  const remote = normalizeMembership(fetched.data)
  const merged = mergeMemberships(ours, remote)
  const notes: string[] = []
  if (membershipDigest(merged) !== membershipDigest(ours)) {
    try {
      notes.push(`adopted member list version ${adoptMembership(ctx, peer.name, remote).membership.version}`)
    } catch (err) {
      if (!(err instanceof FamlabError)) throw err
      return err.message
    }
  }
  if (membershipDigest(merged) !== membershipDigest(remote)) {
    notes.push(`sent member list: ${await sendMembership(ctx, peer.name, requireMembership(ctx.config))}`)
  }
  return notes.join('; ') || undefined
}

/** A peer's `status` reply, as asked when a run agreed on the member list. */
export type AskedPeer<T> = { peer: Member; status: PeerReply<T>; askedAt: number }

/**
 * Before a run sends anything: agree on the member list with every reachable peer at once, so a
 * member that one of them knows was removed gets nothing from this run. Returns the peers left,
 * each with the status it answered, which the run goes on to use. With `sharedSshCommand` as
 * `sshArgs` the status request opens the run's shared connection to each peer.
 */
export async function agreeOnMembership<T extends MembershipSummary>(ctx: Context, peers: Member[], sshArgs?: string[]): Promise<AskedPeer<T>[]> {
  const asked = await Promise.all(peers.map(async (peer) => {
    const status = await requestPeer<T>(ctx, peer.name, ['status'], undefined, sshArgs)
    const askedAt = Date.now()
    if (status.outcome === 'ok') {
      const note = await syncMembership(ctx, peer, status.data)
      if (note) ctx.log.info('peers', note, peer.name)
    }
    return { peer, status, askedAt }
  }))
  const current = requireMembership(ctx.config)
  for (const gone of peers.filter((p) => !findMember(current, p.name))) ctx.log.info('peers', 'no longer a member of the family; nothing is sent to it', gone.name)
  return asked.filter(({ peer }) => findMember(current, peer.name))
}
