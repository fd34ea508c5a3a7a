// btrfs quota groups: the household's share of the disk as a hard limit on local/.
import { runChecked } from './exec.ts'

/** Enables quotas on the filesystem (idempotent) and caps what `subvolume` may reference. */
export async function limitSubvolume(filesystem: string, subvolume: string, bytes: number): Promise<void> {
  await runChecked(['btrfs', 'quota', 'enable', filesystem])
  await runChecked(['btrfs', 'qgroup', 'limit', String(bytes), subvolume])
}

/** The referenced-bytes limit of a subvolume's own qgroup; undefined when there is none. */
export async function subvolumeLimit(subvolume: string): Promise<number | undefined> {
  const shown = await runChecked(['btrfs', 'qgroup', 'show', '-re', '--raw', '-f', subvolume])
  const row = shown.split('\n').find((line) => /^0\/\d+\s/.test(line))
  const max = row?.trim().split(/\s+/)[3]
  return max === undefined || max === 'none' ? undefined : Number(max)
}
