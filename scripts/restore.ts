#!/usr/bin/env tsx
// famlab restore: brings a snapshot (or one path in it) back from a peer, byte-identical;
// --list shows what each peer holds. Exit 0 done, 1 failed, 2 bad arguments, 75 busy.
import { existsSync, mkdirSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { runCommand, type Args } from '../lib/cli.ts'
import type { Context } from '../lib/context.ts'
import { EXIT, FamlabError, runIfMain, UsageError } from '../lib/exit.ts'
import { requireMembership } from '../lib/family.ts'
import { holdsNoFiles } from '../lib/files.ts'
import { recordStep, stopwatch } from '../lib/history.ts'
import { withLock } from '../lib/lock.ts'
import { findMember, peersOf } from '../lib/members.ts'
import { state } from '../lib/paths.ts'
import { pullSnapshot, readerFor, replicaListFor, replicaNamesFor, unfinishedJob, type Reader } from '../lib/restore.ts'
import { humanBytes } from '../lib/sizes.ts'
import { normalizeSubpath } from '../lib/subpath.ts'
import { isSnapshotName } from '../lib/clock.ts'
import { findTarget, loadTargets } from '../lib/targets.ts'

const usage = `
famlab restore --from PEER [--origin NODE] [--snapshot NAME] [--path SUBPATH] --to DIR [--force]
famlab restore --list [--from PEER] [--origin NODE] [--json]

Brings a snapshot back from a peer's replicas with owners, modes, ACLs, xattrs, hard links,
symlinks and sparse files as they were. Run it as root so owners come back.

Options:
  --from PEER       the member or bare target (add-target) holding the replicas
                    (--list: all of them when omitted)
  --origin NODE     whose data (default: this node). Needs that node's own key: --identity FILE
  --identity FILE   the private key of --origin (e.g. from its sealed spare copy)
  --snapshot NAME   e.g. 2026-11-23T101500Z (default: the newest the peer holds)
  --path SUBPATH    only this file or folder, kept at its place under DIR
                    (e.g. timemachine/alice or filehistory/bob)
  --to DIR          where to put it; must hold no files unless --force (nothing in it is deleted)
  --force           write into a DIR that already holds files
  --list            the snapshots the peer holds, with dates and sizes
  --json            with --list: machine-readable

An interrupted restore is resumed by running the same command again.
Exit codes: 0 done, 1 failed (peer unreachable, snapshot missing), 2 bad arguments or config,
75 another famlab run holds the lock.
Examples: famlab restore --list
          famlab restore --from bob --to /srv/famlab/local
          famlab restore --from bob --snapshot 2026-11-20T030000Z --path timemachine/alice --to /tmp/back
`

const SPEC = {
  usage,
  string: ['from', 'origin', 'identity', 'snapshot', 'path', 'to'],
  boolean: ['force', 'list', 'json'],
}

async function list(ctx: Context, args: Args, reader: Reader): Promise<number> {
  const targets = reader.origin === ctx.config.node ? loadTargets(ctx.config).map((t) => t.name) : []
  const peers = args.from ? [args.from] : [...peersOf(requireMembership(ctx.config), ctx.config.node).map((m) => m.name), ...targets]
  const listing: Record<string, unknown> = {}
  let failed = false
  for (const peer of peers) {
    const reply = await replicaListFor(ctx, reader, peer)
    if (reply.outcome !== 'ok') {
      failed = true
      listing[peer] = { error: `${reply.outcome}: ${reply.message}` }
      if (!args.json) process.stdout.write(`${peer}: ${reply.outcome}: ${reply.message}\n`)
      continue
    }
    listing[peer] = reply.data
    if (args.json) continue
    process.stdout.write(`${peer} holds ${reply.data.length} snapshots of ${reader.origin}\n`)
    for (const r of reply.data.slice().reverse()) {
      process.stdout.write(`  ${r.name}  ${r.time.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, ' UTC')}  ${humanBytes(r.bytes).padStart(9)}  ${r.files} files\n`)
    }
  }
  if (args.json) process.stdout.write(`${JSON.stringify({ origin: reader.origin, peers: listing }, null, 2)}\n`)
  return failed ? EXIT.failed : EXIT.ok
}

async function restore(ctx: Context, args: Args, reader: Reader): Promise<number> {
  const elapsed = stopwatch()
  const target = resolve(args.to)
  const path = args.path === undefined ? undefined : normalizeSubpath('--path', args.path)
  if (existsSync(target) && !statSync(target).isDirectory()) throw new UsageError(`--to: ${target} is not a directory`)

  // Which snapshot: the one asked for, else the newest the peer holds
  const held = await replicaNamesFor(ctx, reader, args.from)
  if (held.outcome !== 'ok') throw new FamlabError(`cannot reach ${args.from}: ${held.message}`)
  const snapshot = args.snapshot ?? held.data.at(-1)
  if (!snapshot) throw new FamlabError(`${args.from} holds no snapshot of ${reader.origin}`)
  if (!held.data.includes(snapshot)) {
    throw new FamlabError(`${args.from} holds no snapshot ${snapshot} of ${reader.origin}`, `See famlab restore --list --from ${args.from}.`)
  }

  // Never mix into data that is already there, unless asked to or finishing our own run
  const wanted = { origin: reader.origin, snapshot, target, path }
  const resuming = unfinishedJob(ctx, wanted)
  const holdsFiles = existsSync(target) && !holdsNoFiles(target)
  if (holdsFiles && !args.force && !resuming) {
    throw new UsageError(`--to: ${target} already holds files`, 'Restore into an empty directory, or pass --force to write into it (nothing there is deleted).')
  }
  const force = resuming ? resuming.force || args.force : holdsFiles
  mkdirSync(target, { recursive: true })

  // Transfer
  ctx.log.info('restore', `${resuming ? 'resuming' : 'restoring'} ${reader.origin}/${snapshot}${path ? `/${path}` : ''} into ${target}`, args.from)
  const pulled = await pullSnapshot(ctx, reader, { ...wanted, peer: args.from, force, started: resuming?.started ?? ctx.clock.now().toISOString() })
  recordStep(ctx, { step: 'restore', peer: args.from, snapshot, result: pulled.result, bytes: pulled.bytes, seconds: elapsed(), message: pulled.message })
  if (pulled.result !== 'ok') throw new FamlabError(`restore from ${args.from} failed: ${pulled.message}`, 'Run the same command again to resume.')
  ctx.log.info('restore', `${pulled.message}${pulled.bytes === undefined ? '' : ` (${humanBytes(pulled.bytes)} received)`}`, args.from)
  return EXIT.ok
}

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, SPEC, async (ctx, args) => {
    const target = args.from === undefined ? undefined : findTarget(ctx.config, args.from)
    if (args.from !== undefined && !target && (!findMember(requireMembership(ctx.config), args.from) || args.from === ctx.config.node)) {
      throw new UsageError(`--from: "${args.from}" is not a peer or bare target of this node`, 'See famlab peers.')
    }
    if (target && args.origin !== undefined && args.origin !== ctx.config.node) throw new UsageError(`--origin: bare target ${target.name} holds only ${ctx.config.node}'s snapshots`)
    if (args.snapshot !== undefined && !isSnapshotName(args.snapshot)) throw new UsageError(`--snapshot: "${args.snapshot}" is not a snapshot name like 2026-11-23T101500Z`)
    const reader = readerFor(ctx, args.origin, args.identity)
    if (args.list) return list(ctx, args, reader)
    if (!args.from) throw new UsageError('--from PEER is required', 'See famlab restore --list for who holds what.')
    if (!args.to) throw new UsageError('--to DIR is required')
    return withLock(state(ctx.config).lock, () => restore(ctx, args, reader))
  })
}

runIfMain(import.meta.url, main)
