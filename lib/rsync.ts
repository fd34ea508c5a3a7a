// rsync as famlab drives it: the sender's command line, exit-code classification, transfer stats.
import type { Outcome } from './history.ts'

/** Owners, modes, ACLs, xattrs, hardlinks and sparse files, by numeric id. */
export const ARCHIVE_FLAGS = ['-aHAXS', '--numeric-ids']

export type TransferOptions = {
  ssh: string[]
  bwlimitKbps: number
  timeoutS: number
  progress: boolean
  /** More rsync options for this one transfer (restore's --partial-dir, repair's --checksum). */
  extra?: string[]
}

export function commonFlags(options: TransferOptions): string[] {
  return [
    ...ARCHIVE_FLAGS,
    '--stats',
    `--timeout=${options.timeoutS}`,
    ...(options.bwlimitKbps > 0 ? [`--bwlimit=${options.bwlimitKbps}`] : []),
    ...(options.progress ? ['--info=progress2'] : []),
    ...(options.extra ?? []),
    '-e', options.ssh.map((w) => (/[\s'"]/.test(w) ? `'${w}'` : w)).join(' '),
  ]
}

/** Push a snapshot into the peer's `.incomplete` (serve picks the link-dest basis on its side). */
export function pushCommand(source: string, remote: string, options: TransferOptions): string[] {
  return ['rsync', ...commonFlags(options), '--delete', '--', `${source.replace(/\/*$/, '')}/`, `${remote}:.incomplete/`]
}

/** Pull a replica (or a path inside it) back from a peer. */
export function pullCommand(remote: string, path: string, target: string, options: TransferOptions): string[] {
  return ['rsync', ...commonFlags(options), '--', `${remote}:${path}`, target]
}

export type RsyncOutcome = { result: Outcome; message: string }

/** rsync's exit codes, by what they mean for a backup (rsync(1) EXIT VALUES). */
export function classifyRsyncExit(code: number): RsyncOutcome {
  switch (code) {
    case 0: return { result: 'ok', message: 'transfer complete' }
    case 23: return { result: 'partial', message: 'some files could not be transferred (rsync 23)' }
    case 24: return { result: 'partial', message: 'source files vanished during the transfer (rsync 24)' }
    case 30: case 35: return { result: 'timeout', message: `the peer stopped answering (rsync ${code} timeout)` }
    case 255: return { result: 'offline', message: 'ssh could not reach the peer (rsync 255)' }
    case 11: return { result: 'failed', message: 'file I/O error, often a full disk (rsync 11)' }
    case 12: return { result: 'failed', message: 'the connection broke during the transfer (rsync 12)' }
    case 20: return { result: 'failed', message: 'the transfer was interrupted by a signal (rsync 20)' }
    case 1: case 2: case 4: return { result: 'refused', message: `the peer refused the request (rsync ${code})` }
    case 5: case 10: return { result: 'refused', message: `the peer refused the connection (rsync ${code})` }
    default: return { result: 'failed', message: `rsync failed (exit ${code})` }
  }
}

/** A transfer's run: one the stall watchdog stopped is a timeout, as rsync's own would be (exit 30). */
export function classifyTransfer(transfer: { code: number; stalled?: boolean }): RsyncOutcome {
  if (transfer.stalled) return { result: 'timeout', message: 'the peer stopped answering (nothing came back for timeout_s; the transfer was stopped)' }
  return classifyRsyncExit(transfer.code)
}

export type TransferStats = { bytesSent: number; bytesReceived: number; literalBytes: number; files: number }

/**
 * Reads rsync's `--stats` block; missing numbers in it read as 0. A run killed before it printed
 * (the stall watchdog, a signal) has no stats: undefined, never a made-up "0 bytes sent".
 */
export function parseStats(output: string): TransferStats | undefined {
  if (!/^Total bytes sent: /m.test(output)) return undefined
  const number = (label: string) => {
    const m = new RegExp(`^${label}: ([\\d,]+)`, 'm').exec(output)
    return m ? Number(m[1].replace(/,/g, '')) : 0
  }
  return {
    bytesSent: number('Total bytes sent'),
    bytesReceived: number('Total bytes received'),
    literalBytes: number('Literal data'),
    files: number('Number of files'),
  }
}
