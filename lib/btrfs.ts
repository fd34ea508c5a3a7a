// btrfs operations famlab needs: subvolumes, read-only snapshots, deletion.
import { lstatSync, statfsSync } from 'node:fs'
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

export async function createReadonlySnapshot(source: string, target: string): Promise<void> {
  await runChecked(['btrfs', '-q', 'subvolume', 'snapshot', '-r', source, target])
}

export async function deleteSubvolume(path: string): Promise<void> {
  await runChecked(['btrfs', '-q', 'subvolume', 'delete', path])
}

export async function removeTree(path: string): Promise<void> {
  if (isSubvolume(path)) return deleteSubvolume(path)
  const result = await run(['rm', '-rf', '--one-file-system', '--', path])
  if (!result.ok) throw new Error(`cannot remove ${path}: ${result.stderr.trim()}`)
}
