// More directories backed up beside local/ (config `sources:`), each under `sources/<name>` in
// the snapshot and so in every replica. A btrfs subvolume is frozen by a read-only snapshot of
// its own; a plain directory is synced from the live tree, where vanished files are a warning.
import { existsSync, mkdirSync, realpathSync, statSync } from 'node:fs'
import { basename, dirname, join, relative } from 'node:path'
import { createReadonlySnapshot, createSubvolume, deleteSubvolume, isSubvolume } from './btrfs.ts'
import type { Config, Source } from './config.ts'
import type { Context } from './context.ts'
import { lastLine, run } from './exec.ts'
import { ConfigError, FamlabError } from './exit.ts'
import { recordStep, stopwatch } from './history.ts'
import { storage } from './paths.ts'
import { ARCHIVE_FLAGS } from './rsync.ts'

/** The top-level directory of a snapshot that holds the sources; local/ must not have one. */
export const SOURCES_DIR = 'sources'

const inside = (path: string, dir: string) => {
  const rel = relative(dir, path)
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith('/'))
}

/** Checks every source path before anything changes: exit 2 naming the entry at fault. */
export function checkSources(config: Config): void {
  const root = existsSync(config.root) ? realpathSync(config.root) : config.root
  const seen: { source: Source; real: string }[] = []
  for (const [i, source] of config.sources.entries()) {
    const fail = (why: string): never => {
      throw new ConfigError(`${config.file}: sources entry ${i + 1} (${source.name}: ${source.path}) ${why}`)
    }
    if (!existsSync(source.path)) fail('does not exist')
    if (!statSync(source.path).isDirectory()) fail('is not a directory')
    const real = realpathSync(source.path)
    if (inside(real, root) || inside(root, real)) fail(`overlaps the storage root ${config.root}`)
    if (inside(config.state, real)) fail(`contains the state directory ${config.state}`)
    const overlap = seen.find((s) => inside(real, s.real) || inside(s.real, real))
    if (overlap) fail(`overlaps sources entry ${config.sources.indexOf(overlap.source) + 1} (${overlap.source.path})`)
    seen.push({ source, real })
  }
}

/** The filesystem UUID, so a btrfs source on the same filesystem as root can be snapshotted in place. */
async function filesystemId(path: string): Promise<string> {
  return (await run(['findmnt', '-n', '-o', 'UUID', '-T', path])).stdout.trim()
}

/** Where a plain directory is mirrored between runs, so each sync only sends the changes. */
const mirrorOf = (config: Config, name: string) => join(storage(config).root, SOURCES_DIR, name)

/** What an rsync exit means for a source copy: files vanishing is normal in a live tree only. */
export function classifySourceSync(code: number, live: boolean): { ok: true; warning?: string } | { ok: false } {
  if (code === 0) return { ok: true }
  if (code === 24 && live) return { ok: true, warning: 'some files vanished while they were copied (rsync 24)' }
  return { ok: false }
}

async function syncIntoMirror(from: string, mirror: string, live: boolean): Promise<string | undefined> {
  const result = await run(['rsync', ...ARCHIVE_FLAGS, '--delete', '--', `${from.replace(/\/*$/, '')}/`, `${mirror}/`])
  const outcome = classifySourceSync(result.code, live)
  if (!outcome.ok) throw new FamlabError(`copying ${from} failed (rsync exit ${result.code}): ${lastLine(result.stderr)}`)
  return outcome.warning
}

/** Puts one source into `<target>` (a path inside the snapshot being built), read-only. */
async function captureSource(ctx: Context, source: Source, target: string): Promise<string | undefined> {
  const { config } = ctx
  const subvolume = isSubvolume(source.path)
  if (subvolume && (await filesystemId(source.path)) === (await filesystemId(config.root))) {
    await createReadonlySnapshot(source.path, target)
    return undefined
  }
  const mirror = mirrorOf(config, source.name)
  if (!existsSync(dirname(mirror))) mkdirSync(dirname(mirror), { mode: 0o700 })
  if (!existsSync(mirror)) await createSubvolume(mirror)
  if (!subvolume) {
    const warning = await syncIntoMirror(source.path, mirror, true)
    await createReadonlySnapshot(mirror, target)
    return warning
  }
  // A subvolume on another filesystem: frozen beside itself, copied from the frozen view.
  const frozen = join(dirname(source.path), `.${basename(source.path)}.famlab-${basename(dirname(target))}`)
  await createReadonlySnapshot(source.path, frozen)
  try {
    await syncIntoMirror(frozen, mirror, false)
  } finally {
    await deleteSubvolume(frozen)
  }
  await createReadonlySnapshot(mirror, target)
  return undefined
}

/** Adds every configured source under `<snapshot>/sources/`; the snapshot is still writable here. */
export async function captureSources(ctx: Context, snapshotDir: string, snap: string): Promise<void> {
  const dir = join(snapshotDir, SOURCES_DIR)
  if (existsSync(dir)) {
    throw new FamlabError(`local/${SOURCES_DIR} exists, but that name holds the configured sources in a snapshot`, `Rename ${storage(ctx.config).local}/${SOURCES_DIR}.`)
  }
  mkdirSync(dir, { mode: 0o755 })
  for (const source of ctx.config.sources) {
    const elapsed = stopwatch()
    const warning = await captureSource(ctx, source, join(dir, source.name))
    const kind = isSubvolume(source.path) ? 'btrfs snapshot' : 'synced from the live tree'
    recordStep(ctx, {
      step: 'source', snapshot: snap, result: warning ? 'warning' : 'ok', seconds: elapsed(),
      message: `${source.name} (${source.path}, ${kind})${warning ? `: ${warning}` : ''}`,
    })
    if (warning) ctx.log.warn('source', `${source.name}: ${warning}`)
  }
}
