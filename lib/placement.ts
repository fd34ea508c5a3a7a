// Where an origin's snapshots go when `family.copies` is below the number of peers: weighted
// rendezvous hashing over member names and offered space, so every node computes the same
// holders without a coordinator, and a member leaving moves only the copies it held.
import { createHash } from 'node:crypto'
import type { HistoryEntry, Outcome } from './history.ts'

export type Candidate = { name: string; offered_bytes?: number }

/** A peer's standing as this node sees it: `gone` = unreachable for longer than offline_hours. */
export type Reachability = 'seen' | 'gone'

/** A uniform number in (0, 1) from the pair, the same on every node and platform. */
function pairHash(origin: string, holder: string): number {
  const digest = createHash('sha256').update(`${origin}\0${holder}`).digest()
  // 52 bits fill a double's mantissa exactly; +0.5 keeps it off 0 and 1.
  const bits = digest.readUIntBE(0, 6) * 16 + (digest[6] >> 4)
  return (bits + 0.5) / 2 ** 52
}

/**
 * The candidates for an origin's copies, best first. Weighted rendezvous (score = -w / ln h):
 * each holder's share of origins is proportional to the space it offers. Weights count only
 * when every candidate announced its space; otherwise all weigh the same.
 */
export function rankHolders(origin: string, candidates: Candidate[]): string[] {
  const weighted = candidates.length > 0 && candidates.every((c) => (c.offered_bytes ?? 0) > 0)
  return candidates
    .filter((c) => c.name !== origin)
    .map((c) => ({ name: c.name, score: -(weighted ? c.offered_bytes! : 1) / Math.log(pairHash(origin, c.name)) }))
    .sort((a, b) => b.score - a.score || a.name.localeCompare(b.name))
    .map((c) => c.name)
}

/** How many copies an origin should have: `all` means every peer. */
export function wantedCopies(copies: number | 'all', peerCount: number): number {
  return copies === 'all' ? peerCount : Math.min(copies, peerCount)
}

export type Placement = {
  /** The peers that should hold the origin's snapshots now, best first. */
  holders: string[]
  /** Better-ranked peers passed over because they are gone. */
  passedOver: string[]
  wanted: number
}

/** The first `wanted` peers of the ranking that are not gone; a gone peer's place moves down the list. */
export function placeCopies(
  origin: string,
  candidates: Candidate[],
  copies: number | 'all',
  reachability: (name: string) => Reachability,
): Placement {
  const ranking = rankHolders(origin, candidates)
  const wanted = wantedCopies(copies, ranking.length)
  const holders: string[] = []
  const passedOver: string[] = []
  for (const name of ranking) {
    if (holders.length === wanted) break
    if (reachability(name) === 'gone') passedOver.push(name)
    else holders.push(name)
  }
  return { holders, passedOver, wanted }
}

/** Holders with nothing of the origin yet: they receive a full copy, not a difference. */
export function holdersToSeed(holders: string[], held: Record<string, string[]>): string[] {
  return holders.filter((h) => (held[h] ?? []).length === 0)
}

const UNREACHED: Outcome[] = ['offline', 'timeout']

/** The last time a peer answered (a request of ours, or a request of its own to us). */
export function lastSeen(history: HistoryEntry[], peer: string): string | undefined {
  let last: string | undefined
  for (const e of history) {
    if (e.peer === peer && !UNREACHED.includes(e.result) && (last === undefined || e.time > last)) last = e.time
  }
  return last
}

/**
 * Gone: the latest attempt to reach it failed, and it has not answered for `offlineHours`
 * (counted from when it joined, if it never answered). A peer never tried is not gone.
 */
export function reachabilityOf(history: HistoryEntry[], peer: string, joined: string, now: Date, offlineHours: number): Reachability {
  const seen = lastSeen(history, peer)
  const lastFailure = history.filter((e) => e.peer === peer && UNREACHED.includes(e.result)).map((e) => e.time).sort().at(-1)
  if (lastFailure === undefined || (seen !== undefined && seen > lastFailure)) return 'seen'
  const since = Date.parse(seen ?? joined)
  return Number.isNaN(since) || now.getTime() - since <= offlineHours * 3600_000 ? 'seen' : 'gone'
}
