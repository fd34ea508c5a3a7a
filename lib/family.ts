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
  findMember, loadMembership, membershipProblem, normalizeMembership, peersOf, saveMembership, withMember,
  type Member, type Membership,
} from './members.ts'
import { state } from './paths.ts'
import { requestPeer, writeSshFiles, type PendingInvite } from './ssh.ts'
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

type InviteRecord = PendingInvite & { created: string }

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

/** Takes an invite out of use; true only for the one caller that found it valid. */
function consumeInvite(config: Config, id: string, now: Date): boolean {
  const record = readJsonFile<InviteRecord>(inviteFile(config, id))
  rmSync(inviteFile(config, id), { force: true })
  return record !== undefined && record.expires * 1000 > now.getTime()
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

/** Adopts a member list from a peer when it is newer and still has us in it. */
export function adoptMembership(ctx: Context, from: string, received: unknown): Membership {
  const problem = membershipProblem(received)
  if (problem) throw new FamlabError(`the member list from ${from} is invalid: ${problem}`)
  const incoming = normalizeMembership(received as Membership)
  return withMembershipLock(ctx.config, () => {
    const current = requireMembership(ctx.config)
    if (incoming.version <= current.version) {
      throw new FamlabError(`the member list from ${from} (version ${incoming.version}) is not newer than ours (${current.version})`)
    }
    const self = findMember(incoming, ctx.config.node)
    const ours = findMember(current, ctx.config.node)
    if (!self || self.key !== ours?.key) {
      throw new FamlabError(`the member list from ${from} does not list this node with its current key`)
    }
    saveMembership(ctx.config, incoming)
    refreshSshFiles(ctx, incoming)
    return incoming
  })
}

/** The inviter's side of a join: checks and spends the invite, then adds the member. */
export function acceptJoin(ctx: Context, inviteId: string, joiner: Member): Membership {
  return withMembershipLock(ctx.config, () => {
    const now = ctx.clock.now()
    if (!consumeInvite(ctx.config, inviteId, now)) {
      refreshSshFiles(ctx, requireMembership(ctx.config))
      throw new FamlabError('this invite was already used or has expired; ask for a new one')
    }
    const current = requireMembership(ctx.config)
    if (joiner.name === ctx.config.node) throw new FamlabError(`"${joiner.name}" is the inviting node's own name`)
    const updated = withMember(current, { ...joiner, joined: now.toISOString() })
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
    const reply = await requestPeer(ctx, peer.name, ['peers-update'], membership)
    results[peer.name] = reply.outcome === 'ok' ? 'updated' : `${reply.outcome}: ${reply.message}`
  }
  return results
}

/** Brings a peer and us to the same member list, whichever is newer. */
export async function syncMembership(ctx: Context, peer: Member, peerVersion: number): Promise<string | undefined> {
  const ours = requireMembership(ctx.config)
  if (peerVersion < ours.version) {
    const reply = await requestPeer(ctx, peer.name, ['peers-update'], ours)
    return reply.outcome === 'ok' ? `sent member list version ${ours.version}` : `could not send the member list: ${reply.message}`
  }
  if (peerVersion > ours.version) {
    const reply = await requestPeer<Membership>(ctx, peer.name, ['peers'])
    if (reply.outcome !== 'ok') return `could not fetch the member list: ${reply.message}`
    const adopted = adoptMembership(ctx, peer.name, reply.data)
    return `adopted member list version ${adopted.version}`
  }
  return undefined
}
