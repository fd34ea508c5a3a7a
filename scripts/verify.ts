#!/usr/bin/env tsx
// famlab verify: checks by checksum that the peers' replicas match the local snapshots, reports
// each difference and raises the integrity alert; --repair re-sends damaged files into a new
// snapshot. Exit 0 all match, 1 a difference or a peer not checked, 2 bad arguments, 75 busy.
import { runCommand, type Args } from '../lib/cli.ts'
import type { Context } from '../lib/context.ts'
import { EXIT, runIfMain, UsageError } from '../lib/exit.ts'
import { agreeOnMembership, requireMembership } from '../lib/family.ts'
import { recordStep } from '../lib/history.ts'
import { withLock } from '../lib/lock.ts'
import { findMember, peersOf, type Member } from '../lib/members.ts'
import { state } from '../lib/paths.ts'
import type { HolderStatus } from '../lib/receive.ts'
import { guardLocalData } from '../lib/recovery.ts'
import { replicateSnapshot } from '../lib/replicate.ts'
import { takeSnapshot } from '../lib/snapshots.ts'
import { updateStatus } from '../lib/status.ts'
import { compareReplica, verifyPeer, type PeerCheck } from '../lib/verify.ts'

const usage = `
famlab verify [--peer NAME] [--sample PERCENT] [--all] [--repair] [--config FILE]

Compares each peer's replica of the newest local snapshot with the snapshot itself, by
checksum (rsync --checksum --dry-run --itemize-changes through the peer's serve): contents,
owners, modes, ACLs, xattrs, links. Each difference is printed on stdout as
"PEER SNAPSHOT WHAT: PATH"; any difference raises the integrity alert.

Options:
  --peer NAME        only this peer
  --sample PERCENT   check only this share of the files, picked at random (the weekly timer)
  --all              also every older snapshot both sides still hold
  --repair           re-send the damaged files into a new complete snapshot on the damaged
                     peers (a fresh local snapshot sent with --checksum); history is untouched

Exit codes: 0 every checked replica matches, 1 a difference remains or a peer could not be
checked, 2 bad arguments or config, 75 another famlab run holds the lock.
Example: famlab verify --peer bob --all
`

function report(ctx: Context, check: PeerCheck): void {
  for (const snapshot of check.checks) {
    for (const d of snapshot.differences) process.stdout.write(`${check.peer} ${snapshot.snapshot} ${d.what.join(',')}: ${d.path}\n`)
    recordStep(ctx, { step: 'verify', peer: check.peer, snapshot: snapshot.snapshot, result: snapshot.result, message: snapshot.message })
  }
  // Not compared (unreachable, nothing in common) is no difference: report's integrity reads only 'verify'.
  if (check.checks.length === 0) recordStep(ctx, { step: 'verify-peer', peer: check.peer, result: check.result, message: check.message })
  const say = check.result === 'ok' || check.result === 'skipped' ? ctx.log.info : ctx.log.warn
  say('verify', `${check.result}: ${check.message}`, check.peer)
}

/** A fresh snapshot, sent with --checksum, so rotted files are not linked but sent again. */
async function repair(ctx: Context, damaged: Member[], peers: Member[]): Promise<PeerCheck[]> {
  await guardLocalData(ctx, peers, false)
  const snapshot = await takeSnapshot(ctx)
  ctx.log.info('verify', `repairing into a new snapshot ${snapshot}`)
  const sent = await replicateSnapshot(ctx, snapshot, await agreeOnMembership<HolderStatus>(ctx, damaged), { checksum: true })
  const checks: PeerCheck[] = []
  for (const result of sent) {
    const check = result.result === 'ok' ? await compareReplica(ctx, result.peer, snapshot) : undefined
    checks.push({
      peer: result.peer,
      result: check?.result ?? result.result,
      message: check ? `repaired in ${snapshot}: ${check.message}` : `repair failed: ${result.message}`,
      checks: check ? [check] : [],
    })
  }
  return checks
}

async function verify(ctx: Context, args: Args, percent: number | undefined): Promise<number> {
  const membership = requireMembership(ctx.config)
  const peers = peersOf(membership, ctx.config.node)
  const chosen = args.peer ? peers.filter((m) => m.name === args.peer) : peers

  // Compare
  let checks: PeerCheck[] = []
  for (const peer of chosen) {
    const check = await verifyPeer(ctx, peer.name, { all: args.all, percent })
    report(ctx, check)
    checks.push(check)
  }

  // Repair, into a new snapshot
  const damaged = chosen.filter((m) => checks.find((c) => c.peer === m.name)?.result === 'failed')
  if (args.repair && damaged.length > 0) {
    const repaired = await repair(ctx, damaged, peers)
    for (const check of repaired) report(ctx, check)
    checks = checks.map((c) => repaired.find((r) => r.peer === c.peer) ?? c)
  }

  // The integrity alert stays until a verify finds no difference
  const differences = checks.reduce((n, c) => n + c.checks.reduce((m, s) => m + s.differences.length, 0), 0)
  const failed = checks.filter((c) => c.result !== 'ok' && c.result !== 'skipped')
  const message = failed.map((c) => `${c.peer}: ${c.message}`).join('; ') || 'every checked replica matches'
  updateStatus(ctx, {
    verify: {
      time: ctx.clock.now().toISOString(),
      result: checks.some((c) => c.result === 'failed') ? 'failed' : 'ok',
      differences,
      message,
      peers: checks.map((c) => ({ peer: c.peer, result: c.result, snapshots: c.checks.map((s) => s.snapshot), differences: c.checks.reduce((n, s) => n + s.differences.length, 0), message: c.message })),
    },
  })
  return failed.length > 0 ? EXIT.failed : EXIT.ok
}

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage, string: ['peer', 'sample'], boolean: ['all', 'repair'] }, async (ctx, args) => {
    const percent = args.sample === undefined ? undefined : Number(args.sample)
    if (percent !== undefined && !(percent > 0 && percent <= 100)) throw new UsageError(`--sample: "${args.sample}" is not a percentage from 0 to 100 (exclusive of 0)`)
    if (args.peer && (args.peer === ctx.config.node || !findMember(requireMembership(ctx.config), args.peer))) {
      throw new UsageError(`--peer: "${args.peer}" is not a peer of this node`, 'See famlab peers.')
    }
    return withLock(state(ctx.config).lock, () => verify(ctx, args, percent))
  })
}

runIfMain(import.meta.url, main)
