// Is a Mac or a PC writing its backup right now? famlab never snapshots a sparsebundle
// half-written: it waits until no bundle file is open in smbd and local/ has been quiet.
import { existsSync, lstatSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Context } from './context.ts'
import { run } from './exec.ts'
import { BusyError } from './exit.ts'
import { recordStep } from './history.ts'
import { storage } from './paths.ts'
import { smbConfPath } from './samba.ts'

/** Time Machine writes into a `.sparsebundle` (macOS 10) or `.backupbundle` (macOS 11 on). */
const BUNDLE_PATH = /\.(sparsebundle|backupbundle)\//
const MINUTE = 60_000
/** How often `backup` looks again while it waits. */
export const CHECK_EVERY_MS = MINUTE

export type Change = { path: string; mtimeMs: number }
export type Activity = { idle: true } | { idle: false; reason: string }

/** Open files inside a bundle, from `smbstatus -L --json` (`open_files` is absent when none). */
export function openBundleFiles(smbstatus: unknown): string[] {
  const open = (smbstatus as { open_files?: Record<string, unknown> } | undefined)?.open_files ?? {}
  return Object.keys(open).filter((path) => BUNDLE_PATH.test(path)).sort()
}

/** The open files smbd reports; none when Samba is not installed or has never served anyone. */
export async function readOpenBundleFiles(smbConf: string): Promise<string[]> {
  if (!existsSync(smbConf)) return []
  const status = await run(['smbstatus', `--configfile=${smbConf}`, '--locks', '--json'])
  if (status.code === 127 || status.stdout.trim() === '') return []
  if (!status.ok) throw new Error(`smbstatus failed (exit ${status.code}): ${status.stderr.trim()}`)
  try {
    return openBundleFiles(JSON.parse(status.stdout))
  } catch {
    throw new Error('smbstatus --json printed something that is not JSON')
  }
}

/**
 * The first file or directory under `dir` changed after `since` (ms), or undefined.
 * Stops at the first one found: a busy Mac answers fast, a quiet tree is walked once.
 */
export function findChangeSince(dir: string, since: number): Change | undefined {
  let entries
  try {
    entries = readdirSync(dir, { withFileTypes: true })
  } catch {
    return undefined
  }
  for (const entry of entries) {
    const path = join(dir, entry.name)
    let mtimeMs: number
    try {
      mtimeMs = lstatSync(path).mtimeMs
    } catch {
      continue // removed while we looked
    }
    if (mtimeMs > since) return { path, mtimeMs }
    if (entry.isDirectory()) {
      const inner = findChangeSince(path, since)
      if (inner) return inner
    }
  }
  return undefined
}

/** The decision, as data: open bundle files first, then a recent change under local/. */
export function judgeActivity(openFiles: string[], change: Change | undefined, now: Date): Activity {
  if (openFiles.length > 0) return { idle: false, reason: `a Mac is writing: ${openFiles[0]} is open${openFiles.length > 1 ? ` (and ${openFiles.length - 1} more)` : ''}` }
  if (change) {
    const ago = Math.max(0, Math.round((now.getTime() - change.mtimeMs) / MINUTE))
    return { idle: false, reason: `${change.path} changed ${ago} minute${ago === 1 ? '' : 's'} ago` }
  }
  return { idle: true }
}

export async function checkActivity(ctx: Context): Promise<Activity> {
  const now = ctx.clock.now()
  const quietMs = ctx.config.timemachine.quiet_minutes * MINUTE
  const openFiles = await readOpenBundleFiles(smbConfPath(ctx.env))
  const change = quietMs > 0 && openFiles.length === 0 ? findChangeSince(storage(ctx.config).local, now.getTime() - quietMs) : undefined
  return judgeActivity(openFiles, change, now)
}

/** Checks every CHECK_EVERY_MS until quiet; past `timemachine.wait_minutes`, busy (exit 75). */
export async function waitForQuiet(ctx: Context): Promise<void> {
  const { wait_minutes: waitMinutes, quiet_minutes: quietMinutes } = ctx.config.timemachine
  const deadline = ctx.clock.now().getTime() + waitMinutes * MINUTE
  for (let said = false; ; said = true) {
    const activity = await checkActivity(ctx)
    if (activity.idle) return
    if (ctx.clock.now().getTime() >= deadline) {
      recordStep(ctx, { step: 'tm-idle', result: 'busy', message: activity.reason })
      throw new BusyError(`still busy after ${waitMinutes} minutes: ${activity.reason}; nothing was changed`, 'backup runs again on the next timer')
    }
    const until = quietMinutes > 0 ? `for ${quietMinutes} quiet minutes` : 'until it is done'
    if (!said) ctx.log.info('tm-idle', `${activity.reason}; waiting ${until} (checking every minute, at most ${waitMinutes})`)
    await ctx.clock.sleep(CHECK_EVERY_MS)
  }
}
