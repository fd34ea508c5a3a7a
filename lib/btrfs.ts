// btrfs operations famlab needs: subvolumes, snapshots, the read-only flag, deletion.
import { lstatSync, readdirSync, statfsSync } from 'node:fs'
import { join } from 'node:path'
import { run, runChecked } from './exec.ts'

const BTRFS_MAGIC = 0x9123683e
/** Every subvolume's root directory has this inode number on btrfs. */
const SUBVOLUME_ROOT_INODE = 256

export function isBtrfs(path: string): boolean {
  try {
    return statfsSync(path).type === BTRFS_MAGIC
  } catch {
    return false
  }
}

export function isSubvolume(path: string): boolean {
  try {
    return isBtrfs(path) && lstatSync(path).ino === SUBVOLUME_ROOT_INODE
  } catch {
    return false
  }
}

export async function createSubvolume(path: string): Promise<void> {
  await runChecked(['btrfs', '-q', 'subvolume', 'create', path])
}

export async function createSnapshot(source: string, target: string): Promise<void> {
  await runChecked(['btrfs', '-q', 'subvolume', 'snapshot', source, target])
}

export async function createReadonlySnapshot(source: string, target: string): Promise<void> {
  await runChecked(['btrfs', '-q', 'subvolume', 'snapshot', '-r', source, target])
}

export async function isReadonly(path: string): Promise<boolean> {
  return (await runChecked(['btrfs', 'property', 'get', '-ts', path, 'ro'])).trim() === 'ro=true'
}

export async function deleteSubvolume(path: string): Promise<void> {
  await runChecked(['btrfs', '-q', 'subvolume', 'delete', path])
}

/** Needs only ownership of the subvolume, so `ssh.user` can seal what it received. */
export async function setReadonly(path: string, readonly: boolean): Promise<void> {
  await runChecked(['btrfs', 'property', 'set', '-f', '-ts', path, 'ro', String(readonly)])
}

/** Subvolumes one or two levels below `dir` (a snapshot's sources/<name>): deleted before it. */
export function nestedSubvolumes(dir: string): string[] {
  const below = (parent: string) => {
    try {
      return readdirSync(parent, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(parent, e.name))
    } catch {
      return []
    }
  }
  const found: string[] = []
  for (const child of below(dir)) {
    if (isSubvolume(child)) found.push(child)
    else found.push(...below(child).filter(isSubvolume))
  }
  return found
}

export const removeTree = (path: string) => removeTrees([path])

/** Subvolumes and plain trees alike, each kind in one process: a 90-day prune is one call, not 90. */
export async function removeTrees(paths: string[]): Promise<void> {
  const subvolumes = paths.filter(isSubvolume)
  const trees = paths.filter((p) => !subvolumes.includes(p))
  for (const subvolume of subvolumes) {
    const nested = nestedSubvolumes(subvolume)
    if (nested.length === 0) continue
    // A read-only snapshot cannot lose its nested subvolumes; it is already out of sight here.
    await setReadonly(subvolume, false)
    await removeTrees(nested)
  }
  if (subvolumes.length) await runChecked(['btrfs', '-q', 'subvolume', 'delete', ...subvolumes])
  if (!trees.length) return
  // A plain directory may hold subvolumes (send mode's .receiving/): rm cannot cross into them.
  const inside = trees.flatMap(nestedSubvolumes)
  if (inside.length) await removeTrees(inside)
  const result = await run(['rm', '-rf', '--one-file-system', '--', ...trees])
  if (!result.ok) throw new Error(`cannot remove ${trees.join(', ')}: ${result.stderr.trim()}`)
}
