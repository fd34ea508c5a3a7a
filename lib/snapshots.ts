// Snapshots of local/ (and the configured sources) and the listing of complete snapshots anywhere (snapshots/, replicas/<origin>/).
import { readdirSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { createReadonlySnapshot, createSnapshot, isSubvolume, removeTree, setReadonly } from './btrfs.ts'
import { isSnapshotName, snapshotName } from './clock.ts'
import type { Context } from './context.ts'
import { FamlabError } from './exit.ts'
import { storage } from './paths.ts'
import { captureSources, checkSources } from './sources.ts'

/** A snapshot with sources while it is being put together; never a complete name. */
const BUILDING_PREFIX = '.building-'

/** Complete snapshots in a directory, oldest first. Only a `<snap>` name counts as complete. */
export function listSnapshots(dir: string): string[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  return names.filter(isSnapshotName).sort()
}

export function newestSnapshot(dir: string): string | undefined {
  return listSnapshots(dir).at(-1)
}

/** Takes `snapshots/<UTC time>` of local/, read-only. Refuses a clock that went back. */
export async function takeSnapshot(ctx: Context): Promise<string> {
  const paths = storage(ctx.config)
  if (!isSubvolume(paths.local)) {
    throw new FamlabError(`${paths.local} is not a btrfs subvolume, so this node cannot take snapshots`, 'Put root on btrfs and run famlab init.')
  }
  const name = snapshotName(ctx.clock.now())
  const newest = newestSnapshot(paths.snapshots)
  if (newest !== undefined && newest >= name) {
    throw new FamlabError(`the clock says ${name}, which is not after the newest snapshot ${newest}; nothing was changed`)
  }
  if (ctx.config.sources.length === 0) {
    await createReadonlySnapshot(paths.local, paths.snapshot(name))
    return name
  }
  // With sources the snapshot is built writable out of sight, frozen, and only then named <snap>.
  checkSources(ctx.config)
  for (const leftover of readdirSync(paths.snapshots).filter((e) => e.startsWith(BUILDING_PREFIX))) {
    await removeTree(join(paths.snapshots, leftover))
  }
  const building = join(paths.snapshots, `${BUILDING_PREFIX}${name}`)
  await createSnapshot(paths.local, building)
  try {
    await captureSources(ctx, building, name)
    await setReadonly(building, true)
    renameSync(building, paths.snapshot(name))
  } catch (err) {
    await removeTree(building)
    throw err
  }
  return name
}
