// The family agreement in `report`: for every node, where its copies go and how many it has,
// its allowance (S / k) and what it uses; for this node, the status questions answered; and
// the warnings before failures (replication_factor, storage_forecast, disk_errors).
import {
  allowance, copiesState, diskErrorsAlert, forecastFull, replicationFactorAlert, storageForecastAlert,
  type Allowance, type CopiesState, type DeviceError, type Forecast,
} from './agreement.ts'
import { carrySince, type AlertState } from './alerts.ts'
import type { Context } from './context.ts'
import { readContacts } from './contacts.ts'
import { placementFor } from './copies.ts'
import { readDeviceErrors } from './disk-health.ts'
import type { FamilyReport } from './family-report.ts'
import { findMember, peersOf, type Membership } from './members.ts'
import { wantedCopies } from './placement.ts'
import { agreementAlerts, answerStatus, renderAnswers, type StatusAnswers } from './status-answers.ts'

export type NodeAgreement = CopiesState & Allowance & {
  name: string
  placed_on: string[]
  /** What this node's replicas use on each holder, as each last said (null: not measured). */
  on_peers: Record<string, number | null>
  /** When its disk fills at the trend of its usage history (null: flat, or not told). */
  forecast: Forecast | null
  /** btrfs error counters above zero (null: not btrfs, or not told). */
  disk_errors: DeviceError[] | null
}

export type FamilyAgreement = { copies: number | 'all'; nodes: NodeAgreement[]; self: StatusAnswers }

/** One node's standing from what its holders last said. */
function nodeAgreement(ctx: Context, report: FamilyReport, membership: Membership, name: string): NodeAgreement {
  const node = report.nodes.find((n) => n.name === name)
  const peers = peersOf(membership, name)
  const wanted = wantedCopies(ctx.config.family.copies, peers.length)
  const held = node?.copies.map((c) => c.newest) ?? []
  const known = [...new Set(held.filter((h): h is string => Boolean(h)))].sort()
  const onPeers = Object.fromEntries(report.nodes.filter((n) => n.name !== name && n.storage).map((n) => [n.name, n.storage!.by_origin[name] ?? null]))
  const measured = Object.values(onPeers).filter((b): b is number => b !== null)
  const member = findMember(membership, name)
  // Another node's disk, as it last told us in its status reply.
  const disk = readContacts(ctx.config)[name]?.health?.disk
  return {
    name,
    placed_on: placementFor(ctx, membership, name).holders,
    ...copiesState(known, held, wanted, member?.joined ?? report.time),
    ...allowance(member?.offered_bytes, wanted, measured.length ? Math.max(...measured) : undefined),
    on_peers: onPeers,
    forecast: (disk && forecastFull(disk.usage_samples, ctx.clock.now())) ?? null,
    disk_errors: disk?.device_stats?.errors ?? null,
  }
}

/** Adds `agreement` and the agreement's alerts to a report (fields are only ever added). */
export async function addAgreement(ctx: Context, report: FamilyReport, membership: Membership, previous: AlertState = {}): Promise<FamilyReport & { agreement: FamilyAgreement }> {
  const nodes = membership.members.map((m) => nodeAgreement(ctx, report, membership, m.name))
  const selfNode = nodes.find((n) => n.name === ctx.config.node)
  const self = await answerStatus(ctx, membership, selfNode?.on_peers ?? {})
  const now = ctx.clock.now()
  const others = nodes.filter((n) => n.name !== ctx.config.node)
  const selfAlerts = await agreementAlerts(ctx, self)
  if (selfNode) Object.assign(selfNode, { forecast: self.forecast, disk_errors: readDeviceErrors(ctx.config) })
  const alerts = [
    // For other nodes, what they and their holders said; for this node, also its own record.
    ...others.map((n) => replicationFactorAlert(n.name, n, now, ctx.config.alerts.stale_hours)),
    ...others.map((n) => storageForecastAlert(n.name, n.forecast ?? undefined, now, ctx.config.alerts.warn_days)),
    ...others.map((n) => diskErrorsAlert(n.name, n.disk_errors ?? [], now)),
    ...selfAlerts,
  ].filter((a) => a !== undefined)
  const known = [...report.alerts]
  const raised = alerts.filter((a) => !known.some((b) => b.kind === a.kind && b.node === a.node) && known.push(a))
  return { ...report, alerts: [...report.alerts, ...carrySince(raised, previous)], agreement: { copies: ctx.config.family.copies, nodes, self } }
}

export function renderAgreement(report: { agreement: FamilyAgreement; time: string }): string {
  return `\nAGREEMENT (copies: ${report.agreement.copies})\n${renderAnswers(report.agreement.self, new Date(report.time))}`
}

/** node_exporter textfile metrics for the agreement, in the same format as report's own. */
export function renderAgreementMetrics(agreement: FamilyAgreement): string {
  const lines: string[] = []
  const gauge = (name: string, help: string, samples: [string, number | null | undefined][]) => {
    lines.push(`# HELP famlab_${name} ${help}`, `# TYPE famlab_${name} gauge`)
    for (const [node, value] of samples) if (value !== null && value !== undefined && Number.isFinite(value)) lines.push(`famlab_${name}{node="${node}"} ${value}`)
  }
  const nodes = agreement.nodes
  gauge('copies_wanted', 'Copies each node should have (family.copies).', nodes.map((n) => [n.name, n.wanted]))
  gauge('copies_of_newest', 'Holders with the node\'s newest snapshot (or newer), as they last said.', nodes.map((n) => [n.name, n.copies_of_newest]))
  gauge('allowance_bytes', 'What the node may back up under the agreement: offered space / copies.', nodes.map((n) => [n.name, n.allowance_bytes]))
  gauge('backup_bytes', 'What the node\'s replicas use on its fullest holder.', nodes.map((n) => [n.name, n.used_bytes]))
  gauge('storage_forecast_days', 'Days until the node\'s disk is full at the current trend (absent when flat).',
    nodes.map((n) => [n.name, n.forecast?.days_to_full]))
  gauge('disk_errors', 'btrfs error counters above zero on the node\'s disk, summed (absent when not known).',
    nodes.map((n) => [n.name, n.disk_errors?.reduce((sum, e) => sum + e.count, 0)]))
  return `${lines.join('\n')}\n`
}
