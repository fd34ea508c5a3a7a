// Bringing a snapshot back from a peer. A member reads only its own origin's replicas, so
// reading another node's needs that node's key. An interrupted restore is resumed: the job is
// remembered in <state>/restore.json until it finishes, and rsync keeps partial files aside.
import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Context } from './context.ts'
import { run } from './exec.ts'
import { UsageError } from './exit.ts'
import { NODE_NAME } from './config.ts'
import type { Outcome } from './history.ts'
import { state, storage } from './paths.ts'
import type { HolderStatus } from './receive.ts'
import { classifyTransfer, parseStats, pullCommand } from './rsync.ts'
import type { ReplicaEntry } from './sizes.ts'
import { SOURCES_DIR } from './sources.ts'
import { hostAlias, requestPeer, sshCommand, type PeerReply } from './ssh.ts'
import { readJsonFile, writeStateFile } from './state.ts'
import { targetHolderStatus, targetPullSource, targetReplicaList } from './target-status.ts'
import { findTarget } from './targets.ts'

/** Whose replicas we read, and the ssh command that authenticates as that origin. */
export type Reader = { origin: string; ssh: string[] }

/** Partial files wait here inside the target until the resumed run finishes them. */
const PARTIAL_DIR = '.famlab-partial'

export function readerFor(ctx: Context, origin: string | undefined, identity: string | undefined): Reader {
  const self = ctx.config.node
  const who = origin ?? self
  if (!NODE_NAME.test(who)) throw new UsageError(`--origin: "${who}" is not a node name`)
  if (identity !== undefined && !existsSync(identity)) throw new UsageError(`--identity: ${identity} does not exist`)
  if (who !== self && identity === undefined) {
    throw new UsageError(`a member can only read its own replicas; reading ${who}'s needs ${who}'s own key`, `Pass --identity FILE with ${who}'s private key.`)
  }
  // ssh offers -i before the config's IdentityFile, so the holder sees the origin's key first.
  return { origin: who, ssh: identity === undefined ? sshCommand(ctx.config) : [...sshCommand(ctx.config), '-i', identity] }
}

/**
 * The complete snapshots a holder has of the reader's origin, oldest first. Asked by name, not
 * by `status`: a holder's status also measures what its replicas use once their set changed, a
 * walk of every replica that on a big holder ran beside the restore's own reads. A holder whose
 * famlab predates the question refuses it and is asked for its status. A bare target (famlab
 * add-target) answers through plain ssh commands.
 */
export async function replicaNamesFor(ctx: Context, reader: Reader, peer: string): Promise<PeerReply<string[]>> {
  const target = findTarget(ctx.config, peer)
  const named = target ? undefined : await requestPeer<{ replicas: string[] }>(ctx, peer, ['replicas'], undefined, reader.ssh)
  if (named?.outcome === 'ok') return { outcome: 'ok', data: named.data.replicas }
  if (named && named.outcome !== 'refused') return named
  const status = target ? await targetHolderStatus(ctx, target) : await requestPeer<HolderStatus>(ctx, peer, ['status'], undefined, reader.ssh)
  return status.outcome === 'ok' ? { outcome: 'ok', data: status.data.replicas } : status
}

export function replicaListFor(ctx: Context, reader: Reader, peer: string): Promise<PeerReply<ReplicaEntry[]>> {
  const target = findTarget(ctx.config, peer)
  return target ? targetReplicaList(ctx, target) : requestPeer<ReplicaEntry[]>(ctx, peer, ['list'], undefined, reader.ssh)
}

export type RestoreJob = {
  peer: string
  origin: string
  snapshot: string
  target: string
  path?: string
  /** Written into a target that held files: nothing there may be deleted. */
  force: boolean
  started: string
}

const jobFile = (ctx: Context) => join(state(ctx.config).dir, 'restore.json')

/** The interrupted restore into `target`, if the one asked for now is the same. */
export function unfinishedJob(ctx: Context, wanted: Omit<RestoreJob, 'started' | 'peer' | 'force'>): RestoreJob | undefined {
  const job = readJsonFile<RestoreJob>(jobFile(ctx))
  const same = job && job.target === wanted.target && job.origin === wanted.origin && job.snapshot === wanted.snapshot && job.path === wanted.path
  return same ? job : undefined
}

/** `bytes`: undefined when rsync was stopped before it could count them. */
export type PullResult = { result: Outcome; message: string; bytes?: number }

/** rsync from the peer's replica (or one path inside it) into `target`, as root with real owners. */
export async function pullSnapshot(ctx: Context, reader: Reader, job: RestoreJob): Promise<PullResult> {
  writeStateFile(ctx.config, jobFile(ctx), JSON.stringify(job))
  // A path goes on stdin, not the command line: serve accepts only plain ASCII there.
  const byName = job.path === undefined ? [] : ['-r', '--files-from=-', '--from0']
  // Into a target that was empty, what the snapshot lacks can only be a killed run's temp files.
  const strays = job.force ? [] : ['--delete']
  // local/ gets back local/'s part of a snapshot; the sources come back by --path sources/NAME.
  const sources = job.target === storage(ctx.config).local && job.path === undefined ? [`--exclude=/${SOURCES_DIR}/`] : []
  const target = findTarget(ctx.config, job.peer)
  const from = target ? targetPullSource(ctx, target, job.snapshot) : { remote: hostAlias(job.peer), path: `${job.snapshot}/`, ssh: reader.ssh, extra: [] }
  const command = pullCommand(from.remote, from.path, `${job.target}/`, {
    ssh: from.ssh,
    bwlimitKbps: ctx.config.replication.bwlimit_kbps,
    timeoutS: ctx.config.replication.timeout_s,
    progress: ctx.interactive,
    extra: [`--partial-dir=${PARTIAL_DIR}`, ...from.extra, ...byName, ...strays, ...sources],
  })
  const transfer = await run(command, {
    input: job.path === undefined ? '' : `${job.path}\0`,
    onStdout: ctx.interactive ? (chunk) => process.stderr.write(chunk) : undefined,
    stallMs: ctx.config.replication.timeout_s * 1000,
  })
  const bytes = parseStats(transfer.stdout)?.bytesReceived
  if (transfer.ok) {
    rmSync(jobFile(ctx), { force: true })
    return { result: 'ok', message: `${job.origin}/${job.snapshot}${job.path ? `/${job.path}` : ''} restored into ${job.target}`, bytes }
  }
  const { result, message } = classifyTransfer(transfer)
  const missing = job.path !== undefined && /No such file or directory/.test(transfer.stderr)
  const remote = transfer.stderr.match(/famlab serve: .*/)?.[0]
  return {
    result,
    message: missing ? `${job.snapshot} on ${job.peer} has no "${job.path}"` : remote ? `${message}; ${remote}` : message,
    bytes,
  }
}
