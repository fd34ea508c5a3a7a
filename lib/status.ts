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

/** The last `verify`: `failed` raises the integrity alert until a later verify is clean. */
export type VerifyStatus = {
  time: string
  result: 'ok' | 'failed'
  differences: number
  message: string
  peers: { peer: string; result: string; snapshots: string[]; differences: number; message: string }[]
}

export type NodeStatus = {
  node: string
  last_backup?: BackupStatus
  last_success?: string
  /** Set while the recovery guard refuses backups: the recovery_needed alert. */
  recovery_needed?: { since: string; message: string }
  verify?: VerifyStatus
}

export function readStatus(ctx: Context): NodeStatus {
  return readJsonFile<NodeStatus>(state(ctx.config).status) ?? { node: ctx.config.node }
}

export function saveBackupStatus(ctx: Context, backup: BackupStatus): void {
  const previous = readStatus(ctx)
  updateStatus(ctx, { last_backup: backup, last_success: backup.result === 'failed' ? previous.last_success : backup.time })
}

/** Changes some fields of status.json and keeps the rest; a field set to undefined is removed. */
export function updateStatus(ctx: Context, changes: Partial<Omit<NodeStatus, 'node'>>): void {
  const status: NodeStatus = { ...readStatus(ctx), ...changes, node: ctx.config.node }
  writeStateFile(ctx.config, state(ctx.config).status, `${JSON.stringify(status, null, 2)}\n`)
}
