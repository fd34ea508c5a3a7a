// The sender's side of send mode: `btrfs send [-p parent] snapshots/<snap>` piped over ssh into
// the peer's `famlab receive-send`, which checks the stream and lets root's `btrfs receive` have it.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { Transform } from 'node:stream'
import type { Context } from './context.ts'
import type { Outcome } from './history.ts'
import { storage } from './paths.ts'
import { PARENT_NOT_RECEIVED } from './receive-send.ts'
import { classifySshFailure, closeSharedSsh, hostAlias, sharingSshCommand } from './ssh.ts'
import { bytesTaken, watchProgress } from './watchdog.ts'

export type SendResult = { result: Outcome; message: string; bytes: number }

/** The newest snapshot the holder has and this node still has: what an incremental stream is against. */
export function chooseParent(snap: string, localSnapshots: readonly string[], held: readonly string[]): string | undefined {
  return held.filter((name) => name < snap && localSnapshots.includes(name)).sort().at(-1)
}

/** rsync's --bwlimit for the stream: KiB per second, on average since the start. */
function throttle(kbps: number): Transform {
  const started = Date.now()
  let passed = 0
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      passed += chunk.length
      setTimeout(() => done(null, chunk), Math.max(0, started + (passed / (kbps * 1024)) * 1000 - Date.now()))
    },
  })
}

async function pipeSend(ctx: Context, snap: string, peer: string, parent: string | undefined): Promise<SendResult & { stderr: string }> {
  const paths = storage(ctx.config)
  const send = spawn('btrfs', ['send', '-q', ...(parent ? ['-p', paths.snapshot(parent)] : []), paths.snapshot(snap)], { stdio: ['ignore', 'pipe', 'pipe'] })
  const [sshBin, ...sshArgs] = sharingSshCommand(ctx.config)
  const ssh = spawn(sshBin, [...sshArgs, hostAlias(peer), 'famlab', 'receive-send', snap, parent ?? 'none'], { stdio: ['pipe', 'pipe', 'pipe'] })
  let bytes = 0
  let sendErr = ''
  let sshErr = ''
  send.stdout.on('data', (chunk: Buffer) => (bytes += chunk.length))
  const bwlimitKbps = ctx.config.replication.bwlimit_kbps
  const stream = bwlimitKbps > 0 ? send.stdout.pipe(throttle(bwlimitKbps)) : send.stdout
  stream.pipe(ssh.stdin)
  // A receiver that stopped taking the stream while its connection stays up: nothing else ends it.
  let stalled = false
  const watchdog = watchProgress(bytesTaken(stream, ssh.stdin), ctx.config.replication.timeout_s * 1000, () => {
    stalled = true
    for (const child of [send, ssh]) child.kill('SIGKILL')
    for (const pipe of [send.stdout, ssh.stdin, ssh.stdout, ssh.stderr]) pipe.destroy()
    // The shared connection's master holds ssh's side of those pipes, and the peer's receive.
    void closeSharedSsh(ctx.config, [peer])
  })
  // The peer hanging up early (a refusal) is reported by ssh's exit, not as a broken pipe here.
  // Over a shared connection ssh may exit before any write fails: then nothing reads the stream
  // any more, and btrfs send, stopped on a full pipe, is ended the same way.
  ssh.stdin.on('error', () => send.kill())
  ssh.on('close', (code) => {
    if (code === 0) return
    send.kill()
    send.stdout.destroy()
  })
  send.stderr.on('data', (chunk: Buffer) => (sendErr += chunk.toString()))
  ssh.stderr.on('data', (chunk: Buffer) => (sshErr += chunk.toString()))
  ssh.stdout.resume()
  const exit = (child: ChildProcess) => new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)))
  const [sendCode, sshCode] = await Promise.all([exit(send), exit(ssh)]).finally(() => watchdog.stop())
  if (stalled) return { result: 'timeout', message: `the peer stopped taking the stream for timeout_s (${ctx.config.replication.timeout_s} s); stopped`, bytes, stderr: sshErr }
  const remote = sshErr.match(/famlab serve: .*/)?.[0]
  if (sshCode !== 0) {
    const result = classifySshFailure(sshCode, sshErr)
    return { result, message: remote ?? `the peer's receive failed (ssh exited ${sshCode})`, bytes, stderr: sshErr }
  }
  if (sendCode !== 0) return { result: 'failed', message: `btrfs send failed: ${sendErr.trim().split('\n').at(-1)}`, bytes, stderr: sendErr }
  return { result: 'ok', message: `${snap} complete${parent ? ` (incremental on ${parent})` : ' (whole)'}`, bytes, stderr: '' }
}

/** Sends `snap` incrementally when the holder has a parent it received, else whole. */
export async function sendSnapshot(ctx: Context, snap: string, peer: string, localSnapshots: readonly string[], held: readonly string[]): Promise<SendResult> {
  if (!existsSync(storage(ctx.config).snapshot(snap))) return { result: 'failed', message: `${snap} does not exist here`, bytes: 0 }
  const parent = chooseParent(snap, localSnapshots, held)
  const first = await pipeSend(ctx, snap, peer, parent)
  if (first.result === 'ok' || !parent || !first.stderr.includes(PARENT_NOT_RECEIVED)) return first
  ctx.log.info('replicate', `${parent} there was not received by btrfs receive: sending ${snap} whole`, peer)
  return pipeSend(ctx, snap, peer, undefined)
}
