// What `report` knows about the whole family: gathered from this node, from each peer's
// `serve status` (probed in parallel with a short timeout), and from what peers said before
// when they are down. Gathering does I/O; building the report from the facts is pure.
import { readdirSync } from 'node:fs'
import { carrySince, evaluateAlerts, usedPercent, type Alert, type AlertState, type FamilyFacts, type MemberFacts, type Thresholds } from './alerts.ts'
import { parseSnapshotName } from './clock.ts'
import { readContacts, recordContact } from './contacts.ts'
import type { Context } from './context.ts'
import { requireMembership } from './family.ts'
import { hoursBetween } from './format.ts'
import { readNodeHealth, withUsage, type NodeHealth } from './health.ts'
import { peersOf } from './members.ts'
import { storage } from './paths.ts'
import type { HolderStatus } from './receive.ts'
import { peerSpace } from './space.ts'
import { requestPeer } from './ssh.ts'
import { readStatus, type NodeStatus } from './status.ts'

/** A peer that does not answer within this is reported unreachable; report never waits longer. */
export const PROBE_TIMEOUT_MS = 20_000

export type StatusReply = HolderStatus & { health?: NodeHealth }

export type StorageReport = {
  /** When the node said this (a peer that does not answer now: when it last did). */
  as_of: string | null
  total_bytes: number
  free_bytes: number
  used_percent: number
  /** The share of the disk offered to the family: (1 - capacity.local_fraction) of it. */
  family_share_bytes: number
  /** What the replicas of all origins use; null until measured. */
  replicas_bytes: number | null
  by_origin: Record<string, number | null>
  /** Replicas fit in the family share; null until measured. */
  agreement_kept: boolean | null
}

export type NodeReport = {
  name: string
  self: boolean
  reachable: boolean
  last_seen: string | null
  problem: string | null
  last_backup: { time: string; result: string; message: string; exit_code: number; bytes: number; seconds: number | null } | null
  last_success: string | null
  /** The newest complete copy of this node on each other member, as that member last said. */
  copies: { holder: string; newest: string | null; count: number; age_hours: number | null }[]
  storage: StorageReport | null
}

/** `report --json`; documented in README. Fields are only ever added. */
export type FamilyReport = {
  version: 1
  node: string
  time: string
  nodes: NodeReport[]
  alerts: Alert[]
}

function isEmptyDir(dir: string): boolean {
  try {
    return readdirSync(dir).length === 0
  } catch {
    return false
  }
}

/** The last verify's differences, per peer (a peer it could not check is peer_offline's business). */
function integrityProblems(status: NodeStatus): FamilyFacts['integrity'] {
  const verify = status.verify
  if (!verify || verify.result === 'ok') return []
  return verify.peers.filter((p) => p.differences > 0).map((p) => ({ peer: p.peer, time: verify.time, message: p.message }))
}

export async function gatherFacts(ctx: Context): Promise<FamilyFacts> {
  const membership = requireMembership(ctx.config)
  const status = readStatus(ctx)
  const now = ctx.clock.now().toISOString()

  // Probe every peer at once, so a dead one costs one timeout, not one each
  const probes = new Map(await Promise.all(peersOf(membership, ctx.config.node).map(async (peer) => {
    const reply = await requestPeer<StatusReply>(ctx, peer.name, ['status'], undefined, undefined, PROBE_TIMEOUT_MS)
    if (reply.outcome === 'ok' && reply.data.health) recordContact(ctx, peer.name, withUsage(reply.data.health, reply.data.space))
    return [peer.name, reply] as const
  })))
  const contacts = readContacts(ctx.config)
  const selfHealth = withUsage(readNodeHealth(ctx.config), await peerSpace(ctx.config))

  const members: MemberFacts[] = membership.members.map((m) => {
    if (m.name === ctx.config.node) {
      return { name: m.name, joined: m.joined, self: true, reachable: true, last_seen: now, problem: null, health: selfHealth, health_time: now }
    }
    const reply = probes.get(m.name)!
    const known = contacts[m.name]
    return {
      name: m.name,
      joined: m.joined,
      self: false,
      reachable: reply.outcome === 'ok',
      last_seen: known?.last_seen ?? null,
      problem: reply.outcome === 'ok' ? null : `${reply.outcome}: ${reply.message}`,
      health: known?.health ?? null,
      health_time: known?.health_time ?? null,
    }
  })
  return {
    node: ctx.config.node,
    now,
    members,
    integrity: integrityProblems(status),
    recovery_needed: status.recovery_needed ?? null,
    local_empty: isEmptyDir(storage(ctx.config).local),
  }
}

function storageReport(health: NodeHealth, asOf: string | null): StorageReport {
  const byOrigin = Object.fromEntries(Object.entries(health.origins).map(([origin, held]) => [origin, held.bytes]))
  const measured = Object.values(byOrigin)
  const replicasBytes = measured.every((b) => b !== null) ? measured.reduce((sum: number, b) => sum + b!, 0) : null
  const familyShare = Math.floor(health.total_bytes * (1 - health.local_fraction))
  return {
    as_of: asOf,
    total_bytes: health.total_bytes,
    free_bytes: health.free_bytes,
    used_percent: Math.round(usedPercent(health) * 10) / 10,
    family_share_bytes: familyShare,
    replicas_bytes: replicasBytes,
    by_origin: byOrigin,
    agreement_kept: replicasBytes === null ? null : replicasBytes <= familyShare,
  }
}

export function buildReport(facts: FamilyFacts, limits: Thresholds, previous: AlertState = {}): FamilyReport {
  const now = new Date(facts.now)
  const nodes = facts.members.map((m): NodeReport => {
    const backup = m.health?.last_backup
    const copies = facts.members.filter((h) => h.name !== m.name).map((holder) => {
      const held = holder.health?.origins[m.name]
      const time = held?.newest ? parseSnapshotName(held.newest) : undefined
      return {
        holder: holder.name,
        newest: held?.newest ?? null,
        count: held?.count ?? 0,
        age_hours: time ? Math.round(hoursBetween(time, now) * 10) / 10 : null,
      }
    })
    return {
      name: m.name,
      self: m.self,
      reachable: m.reachable,
      last_seen: m.last_seen,
      problem: m.problem,
      last_backup: backup ? {
        time: backup.time, result: backup.result, message: backup.message, exit_code: backup.exit_code,
        bytes: backup.peers.reduce((sum, p) => sum + (p.bytes ?? 0), 0), seconds: backup.seconds ?? null,
      } : null,
      last_success: m.health?.last_success ?? null,
      copies,
      storage: m.health ? storageReport(m.health, m.health_time) : null,
    }
  })
  return { version: 1, node: facts.node, time: facts.now, nodes, alerts: carrySince(evaluateAlerts(facts, limits), previous) }
}
