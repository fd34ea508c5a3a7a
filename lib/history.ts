// history.jsonl: one JSON object per run and step, the record an admin (and `report`) reads.
import { appendFileSync, closeSync, existsSync, openSync, readSync, statSync } from 'node:fs'
import type { Context } from './context.ts'
import { state } from './paths.ts'
import { chownToServiceUser, ensureStateDir, readStateFile } from './state.ts'

export type Outcome =
  | 'ok' | 'up-to-date' | 'skipped' | 'offline' | 'no-space' | 'refused' | 'partial' | 'timeout' | 'busy' | 'failed'
  /** Done, with something the admin should know (a live source changed while it was copied). */
  | 'warning'

export type HistoryEntry = {
  time: string
  run: string
  node: string
  step: string
  result: Outcome
  peer?: string
  snapshot?: string
  bytes?: number
  /** With step "usage": the disk's size, beside `bytes` used (the storage forecast's samples). */
  total_bytes?: number
  seconds?: number
  message?: string
}

export type StepRecord = Omit<HistoryEntry, 'time' | 'run' | 'node'>

export function recordStep(ctx: Context, step: StepRecord): HistoryEntry {
  const entry: HistoryEntry = { time: ctx.clock.now().toISOString(), run: ctx.runId, node: ctx.config.node, ...step }
  const file = state(ctx.config).history
  ensureStateDir(ctx.config, ctx.config.state)
  const isNew = !existsSync(file)
  const separator = isNew || endsWithNewline(file) ? '' : '\n'
  appendFileSync(file, `${separator}${JSON.stringify(entry)}\n`, { mode: 0o600 })
  if (isNew) chownToServiceUser(ctx.config, file)
  return entry
}

/** A crash can leave a torn last line; the next entry must not be glued to it. */
function endsWithNewline(file: string): boolean {
  const size = statSync(file).size
  if (size === 0) return true
  const fd = openSync(file, 'r')
  try {
    const last = Buffer.alloc(1)
    readSync(fd, last, 0, 1, size - 1)
    return last[0] === 0x0a
  } finally {
    closeSync(fd)
  }
}

/** Every entry that parses; a line cut short by a crash is skipped, not fatal. */
export function readHistory(file: string): HistoryEntry[] {
  const entries: HistoryEntry[] = []
  for (const line of (readStateFile(file) ?? '').split('\n')) {
    if (!line.trim()) continue
    try {
      entries.push(JSON.parse(line))
    } catch {
      // a torn last line from a crash
    }
  }
  return entries
}

/** Times a step: seconds rounded to milliseconds. */
export function stopwatch(): () => number {
  const start = process.hrtime.bigint()
  return () => Math.round(Number(process.hrtime.bigint() - start) / 1e6) / 1000
}
