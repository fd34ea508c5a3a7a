// The family's member list (peers.yaml): versioned, the same on every node; a newer version wins.
// Removed members and replaced keys leave a tombstone, so a node that was offline cannot bring them back.
import { createHash } from 'node:crypto'
import YAML from 'yaml'
import type { Config } from './config.ts'
import { NODE_NAME } from './config.ts'
import { createClock } from './clock.ts'
import { appendEvent, membershipChange } from './events.ts'
import { FamlabError } from './exit.ts'
import { state } from './paths.ts'
import { readStateFile, writeStateFile } from './state.ts'

export type Member = {
  name: string
  host: string
  port: number
  /** The account peers log in as on that node (its ssh.user). */
  user: string
  /** That node's own key, authorized on every other member. */
  key: string
  /** That node's sshd host key, pinned by every other member. */
  host_key: string
  joined: string
  /** Bytes this node offers the family (its disk beyond capacity.local_fraction); weighs placement. */
  offered_bytes?: number
  /** The list version in which this entry last changed; the higher one wins when two lists disagree. */
  updated?: number
}

/** A key that no longer belongs to the family: its member was removed, re-enrolled or rotated its key. */
export type Removal = { name: string; key: string; version: number; time: string; reason: string }

export type Membership = { version: number; members: Member[]; removed?: Removal[] }

const PUBLIC_KEY = /^ssh-ed25519 [A-Za-z0-9+/]+={0,2}$/
const HOST = /^[A-Za-z0-9.:_-]+$/

/** Checks a member list received from a file or a peer; returns what is wrong, or undefined. */
export function membershipProblem(value: unknown): string | undefined {
  const doc = value as Membership
  if (typeof doc !== 'object' || doc === null) return 'not a mapping'
  if (!Number.isInteger(doc.version) || doc.version < 1) return 'version must be a positive integer'
  if (!Array.isArray(doc.members) || doc.members.length === 0) return 'members must be a non-empty list'
  const names = new Set<string>()
  for (const m of doc.members) {
    const where = `member ${JSON.stringify(m?.name)}`
    if (typeof m?.name !== 'string' || !NODE_NAME.test(m.name)) return `${where}: bad name`
    if (names.has(m.name)) return `${where}: listed twice`
    names.add(m.name)
    if (typeof m.host !== 'string' || !HOST.test(m.host)) return `${where}: bad host`
    if (!Number.isInteger(m.port) || m.port < 1 || m.port > 65535) return `${where}: bad port`
    if (typeof m.user !== 'string' || !/^[a-z_][a-z0-9_-]{0,31}$/.test(m.user)) return `${where}: bad user`
    if (typeof m.key !== 'string' || !PUBLIC_KEY.test(m.key)) return `${where}: key is not an ssh-ed25519 public key`
    if (typeof m.host_key !== 'string' || !PUBLIC_KEY.test(m.host_key)) return `${where}: host_key is not an ssh-ed25519 public key`
    if (m.offered_bytes !== undefined && (!Number.isSafeInteger(m.offered_bytes) || m.offered_bytes < 0)) return `${where}: offered_bytes must be a whole number of bytes`
    if (m.updated !== undefined && !Number.isInteger(m.updated)) return `${where}: updated must be an integer`
  }
  if (doc.removed !== undefined && !Array.isArray(doc.removed)) return 'removed must be a list'
  for (const r of doc.removed ?? []) {
    const where = `removed ${JSON.stringify(r?.name)}`
    if (typeof r?.name !== 'string' || !NODE_NAME.test(r.name)) return `${where}: bad name`
    if (typeof r.key !== 'string' || !PUBLIC_KEY.test(r.key)) return `${where}: key is not an ssh-ed25519 public key`
    if (!Number.isInteger(r.version)) return `${where}: version must be an integer`
    if (doc.members.some((m) => m.name === r.name && m.key === r.key)) return `member ${JSON.stringify(r.name)}: its key was revoked`
  }
  return undefined
}

export function normalizeMembership(doc: Membership): Membership {
  const members = doc.members
    .map(({ name, host, port, user, key, host_key, joined, offered_bytes, updated }) => ({
      name, host, port, user, key, host_key, joined: String(joined ?? ''),
      ...(offered_bytes === undefined ? {} : { offered_bytes }), ...(updated ? { updated } : {}),
    }))
    .sort((a, b) => a.name.localeCompare(b.name))
  const removed = (doc.removed ?? [])
    .map(({ name, key, version, time, reason }) => ({ name, key, version, time: String(time ?? ''), reason: String(reason ?? '') }))
    .sort((a, b) => a.version - b.version || a.name.localeCompare(b.name) || a.key.localeCompare(b.key))
  return { version: doc.version, members, removed }
}

/** Two entries for the same node that say the same thing (whatever version last touched them). */
export function sameEntry(a: Member | undefined, b: Member | undefined): boolean {
  const plain = (m: Member | undefined) => m && JSON.stringify({ ...m, updated: undefined })
  return plain(a) === plain(b)
}

export function isRevoked(membership: Membership, name: string, key: string): boolean {
  return (membership.removed ?? []).some((r) => r.name === name && r.key === key)
}

/** What the list says, without its version: two lists with the same digest agree. */
export function membershipDigest(membership: Membership): string {
  const { members, removed } = normalizeMembership(membership)
  return createHash('sha256').update(JSON.stringify({ members, removed })).digest('hex').slice(0, 16)
}

const entryRank = (m: Member) => `${String(m.updated ?? 0).padStart(12, '0')} ${JSON.stringify(m)}`

/**
 * Joins two lists that changed apart (an offline node, two invites at once): every tombstone
 * of both, and per name the most recently changed entry whose key is not revoked. Deterministic,
 * so two nodes merging the same pair agree. Keeps a side's version when it already says it all.
 */
export function mergeMemberships(a: Membership, b: Membership): Membership {
  const removed = new Map<string, Removal>()
  for (const r of [...(a.removed ?? []), ...(b.removed ?? [])]) {
    const id = `${r.name} ${r.key}`
    const held = removed.get(id)
    if (!held || r.version < held.version) removed.set(id, r)
  }
  const merged: Membership = { version: 0, members: [], removed: [...removed.values()] }
  const byName = new Map<string, Member>()
  for (const m of [...a.members, ...b.members]) {
    if (isRevoked(merged, m.name, m.key)) continue
    const held = byName.get(m.name)
    if (!held || entryRank(m) > entryRank(held)) byName.set(m.name, m)
  }
  merged.members = [...byName.values()]
  const digest = membershipDigest(merged)
  const [newer, older] = a.version >= b.version ? [a, b] : [b, a]
  merged.version = digest === membershipDigest(newer) ? newer.version
    : digest === membershipDigest(older) && older.version === newer.version ? older.version
    : newer.version + 1
  return normalizeMembership(merged)
}

/** The member list in a file: undefined when missing, a phrase when damaged. */
function readMembershipFile(file: string): Membership | string | undefined {
  const text = readStateFile(file)
  if (text === undefined) return undefined
  let doc: unknown
  try {
    doc = YAML.parse(text, { maxAliasCount: 0 })
  } catch {
    return 'not valid YAML'
  }
  return membershipProblem(doc) ?? normalizeMembership(doc as Membership)
}

const spareOf = (file: string) => `${file}.bak`

export function loadMembership(config: Config): Membership | undefined {
  const file = state(config).peers
  const found = readMembershipFile(file)
  if (typeof found !== 'string') return found
  // A damaged list (a failing disk, a hand edit) falls back to the copy written beside it.
  const spare = readMembershipFile(spareOf(file))
  if (spare === undefined || typeof spare === 'string') {
    throw new FamlabError(`${file} is damaged (${found}) and so is its copy ${spareOf(file)}`, 'Re-join the family with an invite from another member.')
  }
  process.stderr.write(`famlab: ${file} was damaged (${found}); restored it from ${spareOf(file)}\n`)
  saveMembership(config, spare)
  return spare
}

export function saveMembership(config: Config, membership: Membership): void {
  const before = readMembershipFile(state(config).peers)
  const change = membershipChange(typeof before === 'object' ? before.members.map((m) => m.name) : [], membership.members.map((m) => m.name))
  // Every change of the list passes here (join, adopt, remove), whoever made it.
  if (change) appendEvent(config, { time: createClock(process.env).now().toISOString(), kind: 'membership_changed', node: config.node, message: `member list version ${membership.version}: ${change}` })
  const header = '# famlab family members. Managed by famlab (init, add-peer, remove-peer); do not edit.\n'
  const text = header + YAML.stringify(normalizeMembership(membership))
  writeStateFile(config, state(config).peers, text)
  writeStateFile(config, spareOf(state(config).peers), text)
}

export function peersOf(membership: Membership, self: string): Member[] {
  return membership.members.filter((m) => m.name !== self)
}

export function findMember(membership: Membership, name: string): Member | undefined {
  return membership.members.find((m) => m.name === name)
}

/**
 * Adds or replaces a member and bumps the version. A replaced key is revoked for good
 * (re-enrollment, key rotation), so no older list can bring it back.
 */
export function withMember(membership: Membership, member: Member, reason = 'replaced', time = member.joined): Membership {
  const version = membership.version + 1
  const previous = findMember(membership, member.name)
  const others = membership.members.filter((m) => m.name !== member.name)
  const revoked = previous && previous.key !== member.key ? [{ name: previous.name, key: previous.key, version, time, reason }] : []
  return { version, members: [...others, { ...member, updated: version }], removed: [...(membership.removed ?? []), ...revoked] }
}

/** Takes a member out and revokes its key everywhere this list reaches. */
export function withoutMember(membership: Membership, name: string, time: string): Membership {
  const version = membership.version + 1
  const gone = findMember(membership, name)
  if (!gone) return membership
  return {
    version,
    members: membership.members.filter((m) => m.name !== name),
    removed: [...(membership.removed ?? []), { name, key: gone.key, version, time, reason: 'removed' }],
  }
}
