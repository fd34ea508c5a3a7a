// The forced command behind every peer key: reads SSH_ORIGINAL_COMMAND and allows only rsync
// confined to the caller's own replicas/<peer>/ and famlab's own small requests.
import { existsSync, mkdirSync, realpathSync } from 'node:fs'
import type { Context } from './context.ts'
import { run } from './exec.ts'
import { pullPathProblem } from './confine.ts'
import { BusyError, EXIT, FamlabError } from './exit.ts'
import { acceptJoin, adoptMembership, propagateMembership, requireMembership } from './family.ts'
import { readDiskReport } from './disk-health.ts'
import { readNodeHealth } from './health.ts'
import { recordStep, stopwatch } from './history.ts'
import { acquireLock } from './lock.ts'
import { findMember, membershipDigest, membershipProblem, type Member } from './members.ts'
import { state, storage } from './paths.ts'
import { isBtrfs } from './btrfs.ts'
import { isInplaceRequest, isListedRequest } from './modes.ts'
import { holderStatus, linkDests, prepareIncomplete } from './receive.ts'
import { finalizeReceived, prepareSnapshotIncomplete } from './receive-snapshot.ts'
import { rootCommand, rootReceiver, writtenByRoot } from './receive-send.ts'
import { measureInBackground, peerSpace } from './space.ts'
import { MAX_REQUEST_LENGTH, parseRsyncRequest, type RsyncRequest } from './rsync-policy.ts'
import { listReplicaSizes } from './sizes.ts'
import { listSnapshots } from './snapshots.ts'

export type Caller = { peer: string } | { invite: string }

const MAX_INPUT_BYTES = 64 * 1024

/** A receiver whose sender died may take a moment to notice; the next transfer waits for it. */
const RECEIVE_LOCK_WAIT_SECONDS = 60

const receiveLock = (ctx: Context, peer: string) =>
  acquireLock(state(ctx.config).originLock(peer), { holder: `a transfer from ${peer}`, waitSeconds: RECEIVE_LOCK_WAIT_SECONDS })

const callerName = (caller: Caller) => ('peer' in caller ? caller.peer : `invite ${caller.invite}`)

function refuse(ctx: Context, caller: Caller, reason: string): number {
  process.stderr.write(`famlab serve: refused ${callerName(caller)}: ${reason}\n`)
  recordStep(ctx, { step: 'serve', peer: 'peer' in caller ? caller.peer : undefined, result: 'refused', message: reason })
  return EXIT.usage
}

function reply(data: unknown): number {
  process.stdout.write(`${JSON.stringify(data)}\n`)
  return EXIT.ok
}

async function readInput(): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of process.stdin) {
    size += chunk.length
    if (size > MAX_INPUT_BYTES) throw new FamlabError('the request body is too large')
    chunks.push(chunk)
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new FamlabError('the request body is not JSON')
  }
}

function originDir(ctx: Context, peer: string): string {
  const dir = storage(ctx.config).replicasOf(peer)
  if (!existsSync(dir)) mkdirSync(dir, { mode: 0o700 })
  return dir
}

async function serveRsync(ctx: Context, peer: string, request: RsyncRequest, line: string): Promise<number> {
  // Replicas that root's btrfs receive wrote keep their owners: only the root side can read them all.
  const receiver = rootReceiver(ctx.config)
  if (request.direction === 'send' && receiver && writtenByRoot(storage(ctx.config).replicasOf(peer), request.path)) {
    return (await run(rootCommand(receiver, peer, ['read', line]), { inherit: true })).code
  }
  if (request.direction === 'send') {
    const problem = pullPathProblem(storage(ctx.config).replicasOf(peer), request.path)
    if (problem) return refuse(ctx, { peer }, problem)
  }
  const dir = originDir(ctx, peer)
  const extra = ['--fake-super', '--munge-links', `--confine-root=${realpathSync(dir)}`]
  const elapsed = stopwatch()
  const lock = request.direction === 'receive' ? receiveLock(ctx, peer) : undefined
  try {
    if (request.direction === 'receive' && isInplaceRequest(request.options)) {
      if (!isBtrfs(dir)) return refuse(ctx, { peer }, 'in-place writes need a btrfs holder (snapshot mode)')
      await prepareSnapshotIncomplete(dir, { separateLinks: !isListedRequest(request.options) })
    } else if (request.direction === 'receive') {
      prepareIncomplete(dir)
      extra.push(...linkDests(dir).map((d) => `--link-dest=${d}`))
    }
    const sender = request.direction === 'send' ? ['--sender'] : []
    const result = await run(['rsync', '--server', ...sender, ...request.options, ...extra, '--', '.', request.path], { cwd: dir, inherit: true })
    recordStep(ctx, {
      step: request.direction === 'receive' ? 'serve-receive' : 'serve-send',
      peer, result: result.ok ? 'ok' : 'failed', seconds: elapsed(), message: result.ok ? undefined : `rsync exited ${result.code}`,
    })
    return result.code
  } finally {
    lock?.release()
  }
}

/** Send mode: the stream on stdin goes to root's checked `btrfs receive`, one at a time per origin. */
async function serveReceiveSend(ctx: Context, peer: string, snap: string, parent: string): Promise<number> {
  const receiver = rootReceiver(ctx.config)
  if (!receiver) return refuse(ctx, { peer }, 'this node does not receive send streams (famlab send-receiver enable)')
  originDir(ctx, peer)
  const elapsed = stopwatch()
  const lock = receiveLock(ctx, peer)
  try {
    const result = await run(rootCommand(receiver, peer, ['receive', snap, parent]), { inherit: true })
    recordStep(ctx, {
      step: 'serve-receive', peer, snapshot: snap, result: result.ok ? 'ok' : 'failed', seconds: elapsed(),
      message: result.ok ? 'btrfs receive' : `btrfs receive failed (exit ${result.code})`,
    })
    if (result.ok) measureInBackground(ctx.config)
    return result.code
  } finally {
    lock.release()
  }
}

async function serveJoin(ctx: Context, inviteId: string): Promise<number> {
  const input = (await readInput()) as { member?: Member }
  const joiner = input.member
  const problem = membershipProblem({ version: 1, members: [joiner] })
  if (problem || !joiner) return refuse(ctx, { invite: inviteId }, `the joining node is described wrongly: ${problem}`)
  const membership = acceptJoin(ctx, inviteId, joiner)
  recordStep(ctx, { step: 'join', peer: joiner.name, result: 'ok', message: `member list version ${membership.version}` })
  const propagated = await propagateMembership(ctx, membership, [joiner.name])
  return reply({ membership, propagated })
}

/** famlab's own requests and how many words each has: exactly, or from-to. */
const WORD_COUNTS: Record<string, number | [number, number]> = {
  'famlab status': 2, 'famlab list': 2, 'famlab finalize': [3, 4], 'famlab peers': 2, 'famlab peers-update': 2,
  'famlab receive-send': 4, 'famlab replicas': 2,
}

/** Why `words` is the wrong length for its request, if it is. */
function wordCountProblem(request: string, words: string[]): string | undefined {
  const expected = WORD_COUNTS[request]
  if (expected === undefined) return undefined
  const [least, most] = typeof expected === 'number' ? [expected, expected] : expected
  if (words.length >= least && words.length <= most) return undefined
  const takes = least === most ? `${least - 2}` : `${least - 2} to ${most - 2}`
  return `"${request}" takes ${takes} arguments, got ${words.length - 2}`
}

/** Routes one request from a member; returns the exit code ssh hands back to the caller. */
async function servePeer(ctx: Context, peer: string, words: string[], line: string): Promise<number> {
  const membership = requireMembership(ctx.config)
  if (!findMember(membership, peer) || peer === ctx.config.node) return refuse(ctx, { peer }, 'not a member of this family')
  if (words[0] === 'rsync') {
    const request = parseRsyncRequest(line)
    return 'refused' in request ? refuse(ctx, { peer }, request.refused) : serveRsync(ctx, peer, request, line)
  }
  const dir = storage(ctx.config).replicasOf(peer)
  const request = `${words[0]} ${words[1]}`
  const wrongLength = wordCountProblem(request, words)
  if (wrongLength) return refuse(ctx, { peer }, wrongLength)
  switch (request) {
    case 'famlab status':
      return reply({
        ...holderStatus(ctx.config.node, membership.version, peer, dir, rootReceiver(ctx.config) !== undefined),
        membership_digest: membershipDigest(membership),
        space: await peerSpace(ctx.config),
        health: { ...readNodeHealth(ctx.config), disk: readDiskReport(ctx.config, ctx.clock.now()) },
      })
    case 'famlab list':
      return reply(await listReplicaSizes(ctx.config, peer))
    case 'famlab replicas':
      return reply({ replicas: listSnapshots(dir) })
    case 'famlab finalize': {
      const lock = receiveLock(ctx, peer)
      try {
        // A fourth word: the sender sent only what changed since that replica (lib/changed-paths.ts).
        const result = await finalizeReceived(originDir(ctx, peer), words[2] ?? '', words[3])
        if (!result.ok) return refuse(ctx, { peer }, `finalize: ${result.reason}`)
        recordStep(ctx, { step: 'serve-finalize', peer, snapshot: words[2], result: 'ok' })
        // The set of replicas changed: measured now, the next sender's status need not wait for it.
        measureInBackground(ctx.config)
        return reply({ finalized: words[2] })
      } finally {
        lock.release()
      }
    }
    case 'famlab receive-send':
      return serveReceiveSend(ctx, peer, words[2], words[3])
    case 'famlab peers':
      return reply(membership)
    case 'famlab peers-update': {
      const { membership: adopted, changed } = adoptMembership(ctx, peer, await readInput())
      recordStep(ctx, { step: 'peers-update', peer, result: changed ? 'ok' : 'up-to-date', message: `member list version ${adopted.version}` })
      return reply({ version: adopted.version, membership: adopted })
    }
  }
  return refuse(ctx, { peer }, `unknown request "${line.slice(0, 60)}"`)
}

export async function serveRequest(ctx: Context, caller: Caller, line: string | undefined): Promise<number> {
  if (process.getuid?.() === 0) return refuse(ctx, caller, 'serve runs only as ssh.user, never as root; put the peer keys in that account\'s authorized_keys')
  if (!line) return refuse(ctx, caller, 'interactive sessions are not allowed')
  if (line.length > MAX_REQUEST_LENGTH || /[^\x20-\x7e]/.test(line)) return refuse(ctx, caller, 'malformed request line')
  const words = line.trim().split(/\s+/)
  try {
    if ('invite' in caller) {
      return line.trim() === 'famlab join' ? await serveJoin(ctx, caller.invite) : refuse(ctx, caller, 'an invite key may only join')
    }
    return await servePeer(ctx, caller.peer, words, line)
  } catch (err) {
    if (err instanceof BusyError) {
      process.stderr.write(`famlab serve: ${err.message}\n`)
      return EXIT.busy
    }
    if (err instanceof FamlabError) return refuse(ctx, caller, err.hint ? `${err.message} — ${err.hint}` : err.message)
    throw err
  }
}
