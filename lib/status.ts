// status.json: the outcome of the last backup on this node, for report and monitoring.
import type { Context } from './context.ts'
import type { PeerResult } from './replicate.ts'
import { state } from './paths.ts'
import { readJsonFile, writeStateFile } from './state.ts'

export type BackupStatus = {
  time: string
  exit_code: number
  result: 'ok' | 'partial' | 'failed'
  snapshot?: string
  message: string
  peers: PeerResult[]
  /** How long the run took. */
  seconds?: number
  /** Why a failed run failed, when an alert other than backup_failed fits (the recovery guard). */
  reason?: 'recovery_needed'
}

export type NodeStatus = { node: string; last_backup?: BackupStatus; last_success?: string }

export function readStatus(ctx: Context): NodeStatus {
  return readJsonFile<NodeStatus>(state(ctx.config).status) ?? { node: ctx.config.node }
}

export function saveBackupStatus(ctx: Context, backup: BackupStatus): void {
  const previous = readStatus(ctx)
  const status: NodeStatus = {
    node: ctx.config.node,
    last_backup: backup,
    last_success: backup.result === 'failed' ? previous.last_success : backup.time,
  }
  writeStateFile(ctx.config, state(ctx.config).status, `${JSON.stringify(status, null, 2)}\n`)
}
