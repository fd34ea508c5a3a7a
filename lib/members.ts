// The family's member list (peers.yaml): versioned, the same on every node; a newer version wins.
import YAML from 'yaml'
import type { Config } from './config.ts'
import { NODE_NAME } from './config.ts'
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
}

export type Membership = { version: number; members: Member[] }

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
  }
  return undefined
}

export function normalizeMembership(doc: Membership): Membership {
  const members = doc.members
    .map(({ name, host, port, user, key, host_key, joined, offered_bytes }) => ({
      name, host, port, user, key, host_key, joined: String(joined ?? ''), ...(offered_bytes === undefined ? {} : { offered_bytes }),
    }))
    .sort((a, b) => a.name.localeCompare(b.name))
  return { version: doc.version, members }
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

/** Adds or replaces a member (re-enrollment replaces the key) and bumps the version. */
export function withMember(membership: Membership, member: Member): Membership {
  const others = membership.members.filter((m) => m.name !== member.name)
  return { version: membership.version + 1, members: [...others, member] }
}
