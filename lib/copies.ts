// `family.copies`: which peers receive this node's snapshots, and the agreement that a node
// offering S bytes may back up at most S / k. The placement itself is lib/placement.ts.
import { allowance } from './agreement.ts'
import type { Context } from './context.ts'
import { runChecked } from './exec.ts'
import { readHistory, recordStep } from './history.ts'
import { findMember, peersOf, type Member, type Membership } from './members.ts'
import { state } from './paths.ts'
import { placeCopies, reachabilityOf, wantedCopies, type Placement } from './placement.ts'
import type { HolderStatus } from './receive.ts'
import type { PeerResult } from './replicate.ts'
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
 * The agreement, enforced once `family.copies` is set: a snapshot bigger than S / k is refused for
 * every holder before anything is sent. Returns the refusals, or undefined when it may go.
 */
export async function refuseOverAllowance(ctx: Context, membership: Membership, snapDir: string, snap: string, holders: Member[]): Promise<PeerResult[] | undefined> {
  if (ctx.config.family.copies === 'all' || holders.length === 0) return undefined
  const copies = wantedCopies(ctx.config.family.copies, peersOf(membership, ctx.config.node).length)
  const bytes = await snapshotBytes(snapDir)
  const { allowance_bytes, remaining_bytes } = allowance(findMember(membership, ctx.config.node)?.offered_bytes, copies, bytes)
  if (remaining_bytes === null || remaining_bytes >= 0) return undefined
  const message = `${snap} takes ${bytes} bytes, over this node's allowance of ${allowance_bytes} (the space it offers / ${ctx.config.family.copies} copies); nothing was sent`
  recordStep(ctx, { step: 'agreement', snapshot: snap, result: 'refused', bytes, message })
  ctx.log.warn('replicate', message)
  return holders.map((h) => ({ peer: h.name, result: 'refused', message, seconds: 0 }))
}
