// Sends a snapshot to peers: rsync into the peer's `.incomplete`, then `finalize` renames it.
// One peer's failure is a result, not an exception.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { changedPaths, type CompareAll } from './changed-paths.ts'
import type { Context } from './context.ts'
import { lastLine, run } from './exec.ts'
import { EXIT } from './exit.ts'
import { requireMembership, syncMembership, type AskedPeer } from './family.ts'
import { recordStep, stopwatch, type Outcome } from './history.ts'
import { findMember } from './members.ts'
import { chooseMode, rsyncModeFlags } from './modes.ts'
import { storage } from './paths.ts'
import type { HolderStatus } from './receive.ts'
import { NOT_FROM_BASIS } from './receive-snapshot.ts'
import { sendSnapshot } from './send.ts'
import { listSnapshots } from './snapshots.ts'
import { roomProblem } from './space.ts'
import { classifyTransfer, parseStats, pushCommand } from './rsync.ts'
import { hostAlias, requestPeer, sshCommand } from './ssh.ts'

export type PeerResult = { peer: string; result: Outcome; message: string; bytes?: number; seconds: number }

/** `--checksum` (verify --repair) re-sends files whose bytes rotted in the replica linked against. */
export type ReplicateOptions = { checksum?: boolean }

/** A status answered within the last minute still describes the peer; an older one is asked again. */
const FRESH_STATUS_MS = 60_000

async function replicateToPeer(ctx: Context, snap: string, asked: AskedPeer<HolderStatus>, bwlimitKbps: number, options: ReplicateOptions): Promise<PeerResult> {
  const elapsed = stopwatch()
  const peer = asked.peer
  const done = (result: Outcome, message: string, bytes?: number): PeerResult => ({ peer: peer.name, result, message, bytes, seconds: elapsed() })

  // What the peer holds of ours, and the member list agreed again if ours changed meanwhile
  const status = Date.now() - asked.askedAt < FRESH_STATUS_MS ? asked.status : await requestPeer<HolderStatus>(ctx, peer.name, ['status'])
  if (status.outcome !== 'ok') return done(status.outcome, status.message)
  const membershipNote = await syncMembership(ctx, peer, status.data)
  if (membershipNote) ctx.log.info('replicate', membershipNote, peer.name)
  // A member list learned from another peer meanwhile may have removed this one.
  if (!findMember(requireMembership(ctx.config), peer.name)) return done('skipped', 'no longer a member of the family; not sent')
  if (status.data.replicas.includes(snap)) return done('up-to-date', `already holds ${snap}`)

  // What would not fit is skipped whole: an alert, never a transfer dying half way
  const tooBig = roomProblem(ctx.config, snap, status.data)
  if (tooBig) return done('no-space', tooBig)

  // Transfer into .incomplete, in the mode the holder offers and our config asks for
  let mode = chooseMode(ctx.config.replication.mode, status.data.modes)
  ctx.log.info('replicate', `sending ${snap} in ${mode} mode${status.data.incomplete ? ' (resuming)' : ''}`, peer.name)
  const source = storage(ctx.config).snapshot(snap)
  if (mode === 'send') {
    const sent = await sendSnapshot(ctx, snap, peer.name, listSnapshots(storage(ctx.config).snapshots), status.data.replicas)
    if (sent.result === 'ok' || UNREACHABLE.includes(sent.result)) return done(sent.result, sent.message, sent.bytes)
    // A stream the holder refused (a device node, a setuid file) still travels, by rsync.
    mode = chooseMode('snapshot', status.data.modes)
    ctx.log.warn('replicate', `send mode failed (${sent.message}); sending ${snap} in ${mode} mode instead`, peer.name)
  }
  // Snapshot mode: the holder copies its newest replica; if we still have that snapshot, only
  // the paths that changed since it need comparing. A half-sent `.incomplete` is compared whole.
  const newestHeld = status.data.replicas.at(-1)
  const listed = mode === 'snapshot' && !status.data.incomplete && !options.checksum && newestHeld && existsSync(storage(ctx.config).snapshot(newestHeld))
    ? await listChanges(ctx, newestHeld, snap, peer.name) : undefined
  try {
    const push = (list?: string) => pushTo(ctx, peer.name, source, [...rsyncModeFlags(mode, list), ...(options.checksum ? ['--checksum'] : [])], bwlimitKbps, options)
    let sent = await push(listed?.file)
    let bytes = sent.bytes
    if (sent.failed) return done(sent.failed.result, sent.failed.message, bytes)

    // Only a finished transfer of a snapshot that still exists gets a complete name: a snapshot
    // deleted under rsync may have been sent only in part.
    if (!existsSync(source)) return done('failed', `${snap} was deleted here during the transfer; not finalized`, bytes)
    let finalized = await requestPeer(ctx, peer.name, ['finalize', snap, ...(listed ? [listed.basis] : [])])
    let how = listed ? ` (${listed.count} paths changed since ${listed.basis})` : ''
    if (listed && finalized.outcome === 'refused' && finalized.message.includes(NOT_FROM_BASIS)) {
      // The holder started from another replica than ours: rsync compares the whole tree after all.
      ctx.log.warn('replicate', `${finalized.message}; sending ${snap} again, comparing every file`, peer.name)
      sent = await push()
      // A transfer that printed no stats sent an unknown amount: the sum is unknown too.
      bytes = bytes === undefined || sent.bytes === undefined ? undefined : bytes + sent.bytes
      if (sent.failed) return done(sent.failed.result, sent.failed.message, bytes)
      finalized = await requestPeer(ctx, peer.name, ['finalize', snap])
      how = ''
    }
    if (finalized.outcome !== 'ok') return done(finalized.outcome, `transfer done but not finalized: ${finalized.message}`, bytes)
    return done('ok', `${snap} complete${how}`, bytes)
  } finally {
    listed?.remove()
  }
}

/** One rsync of `source` into the peer's `.incomplete`; `failed` says why it did not finish. */
async function pushTo(ctx: Context, peer: string, source: string, extra: string[], bwlimitKbps: number, options: ReplicateOptions): Promise<{ bytes?: number; failed?: { result: Outcome; message: string } }> {
  const command = pushCommand(source, hostAlias(peer), {
    ssh: sshCommand(ctx.config),
    bwlimitKbps,
    timeoutS: ctx.config.replication.timeout_s,
    progress: ctx.interactive,
    extra,
  })
  // A --checksum run is quiet while the holder reads a whole file; it keeps to rsync's own timeout.
  const stallMs = options.checksum ? undefined : ctx.config.replication.timeout_s * 1000
  const transfer = await run(command, { onStdout: ctx.interactive ? (chunk) => process.stderr.write(chunk) : undefined, stallMs })
  const bytes = parseStats(transfer.stdout)?.bytesSent
  if (transfer.ok) return { bytes }
  const { result, message } = classifyTransfer(transfer)
  const remote = transfer.stderr.match(/famlab serve: .*/)?.[0]
  return { bytes, failed: { result, message: remote ? `${message}; ${remote}` : message } }
}

/** Snapshots are read-only: peers of one run whose newest replica is the same share one listing. */
const listings = new Map<string, Promise<string[] | CompareAll>>()
function changedPathsOnce(parent: string, snap: string): Promise<string[] | CompareAll> {
  const key = `${parent}\0${snap}`
  if (!listings.has(key)) listings.set(key, changedPaths(parent, snap))
  return listings.get(key)!
}

/** What changed here from `basis` to `snap`, in a file for rsync's --files-from. */
async function listChanges(ctx: Context, basis: string, snap: string, peer: string): Promise<{ basis: string; file: string; count: number; remove: () => void } | undefined> {
  let paths: string[] | CompareAll
  try {
    paths = await changedPathsOnce(storage(ctx.config).snapshot(basis), storage(ctx.config).snapshot(snap))
  } catch (err) {
    // Pruned meanwhile, say: rsync finds the changes itself, as in any other mode.
    ctx.log.warn('replicate', `could not list what changed since ${basis} (${lastLine((err as Error).message)}); comparing every file`, peer)
    return undefined
  }
  if ('compareAll' in paths) {
    ctx.log.info('replicate', `${paths.compareAll} since ${basis}: comparing every file`, peer)
    return undefined
  }
  const dir = mkdtempSync(join(tmpdir(), 'famlab-changed-'))
  const file = join(dir, 'paths')
  writeFileSync(file, Buffer.from(paths.join('\0'), 'latin1'))
  return { basis, file, count: paths.length, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/**
 * Under a timer every peer is fed at once, so one slow home does not hold up the others and
 * the uplink cap is shared between them; a person watching gets one transfer at a time, each
 * with its own progress.
 */
export async function replicateSnapshot(ctx: Context, snap: string, peers: AskedPeer<HolderStatus>[], options: ReplicateOptions = {}): Promise<PeerResult[]> {
  const concurrent = ctx.interactive ? 1 : peers.length
  const bwlimitKbps = Math.ceil(ctx.config.replication.bwlimit_kbps / Math.max(concurrent, 1))
  const replicateOne = async (asked: AskedPeer<HolderStatus>): Promise<PeerResult> => {
    const outcome = await replicateToPeer(ctx, snap, asked, bwlimitKbps, options)
    recordStep(ctx, { step: 'replicate', snapshot: snap, ...outcome })
    const say = outcome.result === 'ok' || outcome.result === 'up-to-date' ? ctx.log.info : ctx.log.warn
    say('replicate', `${outcome.result}: ${outcome.message}${outcome.bytes !== undefined ? ` (${outcome.bytes} bytes sent)` : ''}`, asked.peer.name)
    return outcome
  }
  if (concurrent > 1) return Promise.all(peers.map(replicateOne))
  const results: PeerResult[] = []
  for (const peer of peers) results.push(await replicateOne(peer))
  return results
}

const UNREACHABLE: Outcome[] = ['offline', 'timeout', 'busy']
const SUCCESS: Outcome[] = ['ok', 'up-to-date', 'skipped']

/** 0 all peers have it; 3 some were unreachable but at least one has it; 1 otherwise. */
export function replicationExitCode(results: PeerResult[]): number {
  if (results.every((r) => SUCCESS.includes(r.result))) return EXIT.ok
  if (results.some((r) => !SUCCESS.includes(r.result) && !UNREACHABLE.includes(r.result))) return EXIT.failed
  return results.some((r) => SUCCESS.includes(r.result)) ? EXIT.partial : EXIT.failed
}
