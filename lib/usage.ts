// Samples of this node's disk usage in history.jsonl, one per backup: the storage forecast's data.
import { readDisk } from './capacity.ts'
import type { Context } from './context.ts'
import { recordStep } from './history.ts'

export function recordUsageSample(ctx: Context): void {
  const disk = readDisk(ctx.config.root)
  if (!disk) return
  recordStep(ctx, { step: 'usage', result: 'ok', bytes: disk.total_bytes - disk.free_bytes, total_bytes: disk.total_bytes })
}
