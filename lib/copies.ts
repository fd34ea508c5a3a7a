// `family.copies`: which peers receive this node's snapshots, and the agreement that a node
// offering S bytes may back up at most S / k. The placement itself is lib/placement.ts.
import { allowance } from './agreement.ts'
import type { Context } from './context.ts'
import { runChecked } from './exec.ts'
import { readHistory, recordStep } from './history.ts'
import { findMember, peersOf, type Member, type Membership } from './members.ts'
import { state, storage } from './paths.ts'
import { placeCopies, reachabilityOf, wantedCopies, type Placement } from './placement.ts'
import type { HolderStatus } from './receive.ts'
import type { PeerResult } from './replicate.ts'
import { bytesToSend, estimateTransferBytes } from './space.ts'
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

/** Bytes a snapshot occupies: what a peer receiving it in full must store. */
export async function snapshotBytes(dir: string): Promise<number> {
  return Number((await runChecked(['du', '-s', '-B1', '--', dir])).split(/\s/)[0])
}

/**
 * What this node's replicas will take on its fullest holder once `snapDir` is there: what each
 * holder says they take now (every retained snapshot, shared data counted once), plus what the
 * transfer adds. A full copy when no holder answers.
 */
async function projectedUse(ctx: Context, snap: string, holders: Member[]): Promise<number> {
  const replies = await Promise.all(holders.map((h) => requestPeer<HolderStatus>(ctx, h.name, ['status'])))
  const uses = replies.flatMap((r) => (r.outcome === 'ok' ? [(r.data.space?.origins[ctx.config.node] ?? 0) + bytesToSend(ctx.config, snap, r.data)] : []))
  return uses.length > 0 ? Math.max(...uses) : estimateTransferBytes(storage(ctx.config).snapshot(snap), undefined)
}

/**
 * The agreement: a node offering S bytes may keep at most S / k on each of its holders (k =
 * family.copies, every peer by default). Checked before anything is sent; returns the refusals,
 * or undefined when the snapshot may go.
 */
export async function refuseOverAllowance(ctx: Context, membership: Membership, snap: string, holders: Member[]): Promise<PeerResult[] | undefined> {
  const offered = findMember(membership, ctx.config.node)?.offered_bytes
  if (offered === undefined || holders.length === 0) return undefined
  const copies = wantedCopies(ctx.config.family.copies, peersOf(membership, ctx.config.node).length)
  const bytes = await projectedUse(ctx, snap, holders)
  const { allowance_bytes, remaining_bytes } = allowance(offered, copies, bytes)
  if (remaining_bytes === null || remaining_bytes >= 0) return undefined
  const message = `with ${snap} this node's replicas would take ${bytes} bytes on a holder, over its allowance of ${allowance_bytes} (the ${offered} bytes it offers / ${copies} copies); nothing was sent`
  recordStep(ctx, { step: 'agreement', snapshot: snap, result: 'refused', bytes, message })
  ctx.log.warn('replicate', message)
  return holders.map((h) => ({ peer: h.name, result: 'refused', message, seconds: 0 }))
}
