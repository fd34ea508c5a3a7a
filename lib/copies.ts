// `family.copies`: which peers receive this node's snapshots, and the agreement that a node
// offering S bytes may back up at most S / k. The placement itself is lib/placement.ts.
import { allowance } from './agreement.ts'
import type { Context } from './context.ts'
import type { AskedPeer } from './family.ts'
import { readHistory, recordStep } from './history.ts'
import { findMember, peersOf, type Member, type Membership } from './members.ts'
import { state, storage } from './paths.ts'
import { placeCopies, reachabilityOf, wantedCopies, type Placement } from './placement.ts'
import type { HolderStatus } from './receive.ts'
import type { PeerResult } from './replicate.ts'
import { bytesToSend, estimateTransferBytes, sendBound } from './space.ts'
import { requestPeer } from './ssh.ts'

export function placementFor(ctx: Context, membership: Membership, origin = ctx.config.node): Placement {
  const history = readHistory(state(ctx.config).history)
  const now = ctx.clock.now()
  const joined = (name: string) => findMember(membership, name)?.joined ?? ''
  return placeCopies(origin, peersOf(membership, origin), ctx.config.family.copies, (name) =>
    reachabilityOf(history, name, joined(name), now, ctx.config.alerts.offline_hours))
}

/**
 * The peers that should receive this node's snapshots now. A better-ranked peer that was gone
 * is asked once more first: if it answers, it is back in its place.
 */
export async function choosePeers(ctx: Context, membership: Membership): Promise<Member[]> {
  const peers = peersOf(membership, ctx.config.node)
  if (wantedCopies(ctx.config.family.copies, peers.length) >= peers.length) return peers
  let placement = placementFor(ctx, membership)
  for (const name of placement.passedOver) {
    const probe = await requestPeer<HolderStatus>(ctx, name, ['status'])
    recordStep(ctx, { step: 'probe', peer: name, result: probe.outcome === 'ok' ? 'ok' : 'offline', message: probe.outcome === 'ok' ? 'answers again' : probe.message })
  }
  if (placement.passedOver.length > 0) placement = placementFor(ctx, membership)
  for (const name of placement.passedOver) ctx.log.warn('replicate', `unreachable for over ${ctx.config.alerts.offline_hours}h; its copy moves to the next peer`, name)
  ctx.log.info('replicate', `${placement.holders.length} of ${placement.wanted} copies go to ${placement.holders.join(', ') || 'nobody'}`)
  return placement.holders.map((name) => findMember(membership, name)!)
}

/**
 * The agreement: a node offering S bytes may keep at most S / k on each of its holders (k =
 * family.copies, every peer by default). Checked against what each holder answered when the run
 * agreed on the member list (every retained replica of ours there, shared data counted once),
 * plus what this transfer adds; a full copy when no holder answered. Returns the refusals, or
 * undefined when the snapshot may go.
 */
export function refuseOverAllowance(ctx: Context, membership: Membership, snap: string, holders: AskedPeer<HolderStatus>[]): PeerResult[] | undefined {
  const offered = findMember(membership, ctx.config.node)?.offered_bytes
  if (offered === undefined || holders.length === 0) return undefined
  const copies = wantedCopies(ctx.config.family.copies, peersOf(membership, ctx.config.node).length)
  const answered = holders.flatMap(({ status }) => (status.outcome === 'ok' ? [status.data] : []))
  const held = (holder: HolderStatus) => holder.space?.origins[ctx.config.node] ?? 0
  const { allowance_bytes } = allowance(offered, copies, 0)
  // The tree is walked for what the transfer adds only when a bound on it could cross the allowance.
  if (allowance_bytes !== null && Math.max(0, ...answered.map(held)) + sendBound(ctx.config, snap) <= allowance_bytes) return undefined
  const bytes = answered.length > 0
    ? Math.max(...answered.map((holder) => held(holder) + bytesToSend(ctx.config, snap, holder)))
    : estimateTransferBytes(storage(ctx.config).snapshot(snap), undefined)
  const { remaining_bytes } = allowance(offered, copies, bytes)
  if (remaining_bytes === null || remaining_bytes >= 0) return undefined
  const message = `with ${snap} this node's replicas would take ${bytes} bytes on a holder, over its allowance of ${allowance_bytes} (the ${offered} bytes it offers / ${copies} copies); nothing was sent`
  recordStep(ctx, { step: 'agreement', snapshot: snap, result: 'refused', bytes, message })
  ctx.log.warn('replicate', message)
  return holders.map(({ peer }) => ({ peer: peer.name, result: 'refused', message, seconds: 0 }))
}
