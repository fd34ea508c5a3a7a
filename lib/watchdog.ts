// A stall watchdog for long transfers. rsync's own --timeout counts what it writes as I/O, so a
// receiver that stops while its connection stays up (once the sender's data fits in the socket
// buffers) never trips it: the sender's keep-alives keep it waiting forever. What does stop then
// is what rsync reads: a live peer sends data, checksums or, while it walks unchanged files, a
// keep-alive every timeout/2 (rsync's maybe_send_keepalive). So the counter watched is `rchar`
// in /proc/<pid>/io, summed over the command's own processes (rsync's forks, not ssh: ssh keeps
// reading the server's replies to its own keep-alives).
import { readdirSync, readFileSync } from 'node:fs'
import type { Readable, Writable } from 'node:stream'

function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8')
  } catch {
    return undefined // exited while we looked, or not ours to read
  }
}

/** `root` and every process below it, from /proc. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>()
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number)) {
    const stat = readProc(pid, 'stat')
    if (!stat) continue
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    children.set(parent, [...(children.get(parent) ?? []), pid])
  }
  const tree = [root]
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]) ?? []))
  return tree
}

/**
 * What the processes named `name` in `root`'s tree have read so far, in bytes; undefined while
 * none runs or their counters cannot be read (no task I/O accounting): then nobody is judged.
 */
export function bytesRead(root: number, name: string): number | undefined {
  let total: number | undefined
  for (const pid of processTree(root)) {
    if (readProc(pid, 'comm')?.trim() !== name) continue
    const rchar = /^rchar: (\d+)$/m.exec(readProc(pid, 'io') ?? '')
    if (rchar) total = (total ?? 0) + Number(rchar[1])
  }
  return total
}

/**
 * Calls `onStall` once when `progress()` has not changed for `quietMs`. Any change counts, also a
 * drop (a process of the transfer ended); an unreadable counter restarts the wait.
 */
export function watchProgress(progress: () => number | undefined, quietMs: number, onStall: () => void): { stop(): void } {
  let last = progress()
  let since = Date.now()
  const timer = setInterval(() => {
    const now = progress()
    if (now === undefined || now !== last) {
      last = now
      since = Date.now()
    } else if (Date.now() - since >= quietMs) {
      clearInterval(timer)
      onStall()
    }
  }, Math.max(50, Math.min(1000, quietMs / 10)))
  return { stop: () => clearInterval(timer) }
}

/**
 * A pipe's progress for watchProgress: the bytes `sink` has taken from `source`, but only while
 * some wait to go. While none waits the writer is thinking (btrfs send comparing trees), not
 * the reader stalled: undefined, nobody is judged.
 */
export function bytesTaken(source: Readable, sink: Writable): () => number | undefined {
  let handed = 0
  source.on('data', (chunk: Buffer) => (handed += chunk.length))
  return () => (sink.writableLength > 0 ? handed - sink.writableLength : undefined)
}

/** SIGKILL for `root`'s whole tree: the transfer and its ssh, so the connection closes too. */
export function killTree(root: number): void {
  for (const pid of processTree(root).reverse()) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
}
