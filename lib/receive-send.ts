// The holder's root side of send mode. `btrfs receive` needs root, and what it receives keeps the
// origin's owners, so `serve` (ssh.user) hands two things to `famlab serve-root` through one sudo
// rule, installed only when the admin runs `famlab send-receiver enable`: receiving a checked
// send stream into replicas/<origin>/, and reading the replicas it wrote (restore, verify).
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statfsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { Readable } from 'node:stream'
import { createSnapshot, isReadonly, isSubvolume, removeTrees, setReadonly } from './btrfs.ts'
import { isSnapshotName } from './clock.ts'
import type { Config } from './config.ts'
import { run, runChecked } from './exec.ts'
import { FAMLAB_BIN, storage } from './paths.ts'
import { streamChecker } from './send-stream.ts'

/**
 * Root's own corner of replicas/<origin>/ (0700): `btrfs receive` builds the subvolume here, and
 * each finished one stays as long as its `<snap>`: the parent of later incrementals (it keeps its
 * Received UUID) and what the root reader sends, exactly as received.
 */
export const RECEIVING = '.receiving'
const SEALING_PREFIX = '.sealing-'

/** The sender sends the whole snapshot again when it reads this from a refused incremental. */
export const PARENT_NOT_RECEIVED = 'is not a replica this holder received with btrfs receive'

export type RootReceiver = { config: string; famlab: string; sudoers: string }

const markerFile = (config: Config) => join(config.state, 'send-receiver.json')

/** One file per account and config, so two famlab nodes on one machine keep their own rule. */
export const sudoersFile = (config: Config) =>
  `/etc/sudoers.d/famlab-${config.ssh.user.replace(/[^a-z0-9_-]/gi, '_')}-${createHash('sha256').update(config.file).digest('hex').slice(0, 8)}`

/** The enabled root receiver, as `famlab send-receiver enable` recorded it; undefined when off. */
export function rootReceiver(config: Config): RootReceiver | undefined {
  try {
    return JSON.parse(readFileSync(markerFile(config), 'utf8')) as RootReceiver
  } catch {
    return undefined
  }
}

/** One rule: ssh.user may run exactly `famlab serve-root` for this config, for any peer it names. */
export function sudoersText(config: Config): string {
  return [
    '# famlab send mode (famlab send-receiver): the root side of btrfs receive, for the forced command only.',
    `${config.ssh.user} ALL=(root) NOPASSWD: ${FAMLAB_BIN} serve-root --config ${config.file} --peer *`,
    '',
  ].join('\n')
}

export async function enableRootReceiver(config: Config): Promise<RootReceiver> {
  const receiver: RootReceiver = { config: config.file, famlab: FAMLAB_BIN, sudoers: sudoersFile(config) }
  const temp = `${receiver.sudoers}.new`
  writeFileSync(temp, sudoersText(config), { mode: 0o440 })
  const checked = await run(['visudo', '-c', '-q', '-f', temp])
  if (!checked.ok) {
    rmSync(temp, { force: true })
    throw new Error(`visudo rejects the rule: ${checked.stderr.trim() || checked.stdout.trim()}`)
  }
  renameSync(temp, receiver.sudoers)
  writeFileSync(markerFile(config), `${JSON.stringify(receiver)}\n`, { mode: 0o644 })
  return receiver
}

export function disableRootReceiver(config: Config): void {
  rmSync(sudoersFile(config), { force: true })
  rmSync(markerFile(config), { force: true })
}

/** What serve runs to reach the root side: `sudo -n` never asks, it fails. */
export function rootCommand(receiver: RootReceiver, peer: string, words: string[]): string[] {
  return ['sudo', '-n', receiver.famlab, 'serve-root', '--config', receiver.config, '--peer', peer, ...words]
}

/** Replicas not owned by ssh.user were written by the root receiver, and are read through it. */
export function writtenByRoot(originDir: string, path: string): boolean {
  try {
    return lstatSync(join(originDir, path.split('/')[0])).uid !== process.getuid?.()
  } catch {
    return false
  }
}

/** Where the root reader reads `<snap>`: as received when it can, else the published one. */
export async function readableReplica(originDir: string, snap: string): Promise<{ base: string; fakeSuper: boolean }> {
  const received = join(originDir, RECEIVING, snap)
  return isSubvolume(received) && (await isReadonly(received)) ? { base: join(originDir, RECEIVING), fakeSuper: false } : { base: originDir, fakeSuper: true }
}

/** `Received UUID` of a subvolume as hex without dashes, as send streams carry it; undefined if none. */
export async function receivedUuid(path: string): Promise<string | undefined> {
  if (!isSubvolume(path)) return undefined
  const shown = await run(['btrfs', 'subvolume', 'show', path])
  const uuid = /^\s*Received UUID:\s*([0-9a-f-]{36})\s*$/m.exec(shown.stdout)?.[1]
  return uuid ? uuid.replace(/-/g, '') : undefined
}

/**
 * What in the staging directory has no published `<snap>`: a partial receive, one finished but
 * never published, or one whose replica prune removed. A published one was read-only before it
 * was published, so this needs no `btrfs property get` per retained replica.
 */
const unpublished = (staging: string, dir: string) =>
  readdirSync(staging).filter((name) => !existsSync(join(dir, name))).map((name) => join(staging, name))

const rootsDirectory = (path: string) => realDirectory(path) && lstatSync(path).uid === 0

const realDirectory = (path: string) => {
  try {
    return lstatSync(path).isDirectory()
  } catch {
    return false
  }
}

/**
 * A received tree keeps the origin's owners and modes: setuid programs, device nodes. `<snap>`
 * is a snapshot of it whose top directory is root's, 0700, so ssh.user cannot reach any of it;
 * the top's own owner and mode are kept the --fake-super way too (for a reader without the original).
 */
async function publishReceived(received: string, dir: string, snap: string): Promise<void> {
  const sealing = join(dir, `${SEALING_PREFIX}${snap}`)
  if (existsSync(sealing)) await removeTrees([sealing])
  await createSnapshot(received, sealing)
  const top = lstatSync(received)
  await runChecked(['setfattr', '-n', 'user.rsync.%stat', '-v', `${top.mode.toString(8)} 0,0 ${top.uid}:${top.gid}`, sealing])
  chownSync(sealing, 0, 0)
  chmodSync(sealing, 0o700)
  await setReadonly(sealing, true)
  // A read-only subvolume can be renamed only within its directory.
  renameSync(sealing, join(dir, snap))
}

export type ReceiveResult = { ok: true } | { ok: false; reason: string }

/**
 * Receives one send stream as replicas/<origin>/<snap>. The stream is checked command by command
 * before `btrfs receive` sees it (one subvolume named <snap>, paths inside it, clones only from it
 * or the agreed parent, no security xattrs, no more bytes than the disk has free). `<snap>` appears
 * only as a read-only snapshot of a finished receive, so a complete name always means complete.
 */
export async function receiveSendStream(config: Config, origin: string, snap: string, parent: string | undefined, input: Readable): Promise<ReceiveResult> {
  const dir = storage(config).replicasOf(origin)
  if (!isSnapshotName(snap) || (parent !== undefined && !isSnapshotName(parent))) return { ok: false, reason: 'not a snapshot name' }
  if (!existsSync(dir)) return { ok: false, reason: `there is no replicas/${origin}/ here` }
  if (existsSync(join(dir, snap))) return { ok: false, reason: `${snap} is already complete and cannot be replaced` }
  // ssh.user owns replicas/<origin>/: root follows no symlink and trusts no directory it put there.
  const staging = join(dir, RECEIVING)
  if (!realDirectory(dir) || (existsSync(staging) && !rootsDirectory(staging))) return { ok: false, reason: `replicas/${origin}/ is not a plain directory tree` }
  mkdirSync(staging, { recursive: true, mode: 0o700 })
  chmodSync(staging, 0o700)
  const parents = new Set<string>()
  if (parent) {
    const uuid = existsSync(join(dir, parent)) ? await receivedUuid(join(staging, parent)) : undefined
    if (!uuid) return { ok: false, reason: `${parent} ${PARENT_NOT_RECEIVED}` }
    parents.add(uuid)
  }
  // An interrupted receive leaves a writable, partial subvolume: never a parent, so it goes, and
  // so do received subvolumes whose replica prune removed.
  const leftover = unpublished(staging, dir)
  if (leftover.length) await removeTrees(leftover)

  const fs = statfsSync(dir)
  const checker = streamChecker({ subvolume: snap, parents, maxBytes: fs.bavail * fs.bsize })
  const receiver = spawn('btrfs', ['receive', '-q', '-e', '--chroot', staging], { stdio: ['pipe', 'ignore', 'pipe'] })
  let stderr = ''
  receiver.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<number>((resolve) => receiver.on('close', (code) => resolve(code ?? 1)))
  let refused: string | undefined
  try {
    await pipeline(input, checker, receiver.stdin)
  } catch (err) {
    refused = (err as Error).message
    receiver.kill()
  }
  const code = await exited
  const received = join(staging, snap)
  if (refused || code !== 0 || !isSubvolume(received) || !(await isReadonly(received))) {
    const partial = unpublished(staging, dir)
    if (partial.length) await removeTrees(partial)
    return { ok: false, reason: refused ?? `btrfs receive failed (exit ${code}): ${stderr.trim().split('\n').at(-1) ?? ''}` }
  }
  await publishReceived(received, dir, snap)
  return { ok: true }
}
