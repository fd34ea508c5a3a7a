// How a snapshot travels to a peer. The holder offers what its replicas/ can do (in `serve
// status`); the sender picks from that by its own `replication.mode`.
//   link-dest  portable: a fresh .incomplete, unchanged files hard-linked to the newest replica
//   snapshot   btrfs holder: .incomplete is a writable snapshot of the newest replica, rsync --inplace
//   send       btrfs to btrfs: btrfs send -p | root-side btrfs receive (opt-in)
import type { Config } from './config.ts'

export const TRANSFER_MODES = ['link-dest', 'snapshot', 'send'] as const
export type TransferMode = (typeof TRANSFER_MODES)[number]

const AUTO_MODE: TransferMode = 'snapshot'

/** What a holder can receive into a replicas/ directory with these properties. */
export function offeredModes(onBtrfs: boolean, rootReceiver: boolean): TransferMode[] {
  if (!onBtrfs) return ['link-dest']
  return rootReceiver ? ['link-dest', 'snapshot', 'send'] : ['link-dest', 'snapshot']
}

/**
 * The mode for one transfer. A mode the holder cannot do falls back to the next portable one
 * (send → snapshot → link-dest), never fails; a holder too old to report modes only knows link-dest.
 * `auto` is snapshot mode where the holder's replicas/ is on btrfs, link-dest elsewhere; send stays opt-in.
 */
export function chooseMode(configured: Config['replication']['mode'], offered: readonly TransferMode[] | undefined): TransferMode {
  const can = (mode: TransferMode) => (offered ?? ['link-dest']).includes(mode)
  const wanted: TransferMode = configured === 'auto' ? AUTO_MODE : configured
  const order = TRANSFER_MODES.slice(0, TRANSFER_MODES.indexOf(wanted) + 1).reverse()
  return order.find(can) ?? 'link-dest'
}

/**
 * Writing a changed file in place, the holder's rsync deletes the xattrs it finds on it that the
 * sender did not list, among them `--fake-super`'s record of the file's ACL (`user.rsync.%aacl`),
 * and does not write it back: the replica loses the ACL (rsync 3.5.0). A receiver-only rule keeps
 * those records; any xattr rule replaces rsync's default one, so it is restated (a root sender
 * skips `system.*`, whose ACLs -A sends).
 */
const KEEP_FAKE_SUPER_RECORDS = ['--filter=-x system.*', '--filter=-xr user.rsync.%*']

/**
 * rsync options that go with a mode on the sending side. `changedPaths`: a file listing what changed
 * since the snapshot the holder's `.incomplete` copies (lib/changed-paths.ts), in snapshot mode.
 */
export function rsyncModeFlags(mode: TransferMode, changedPaths?: string): string[] {
  if (mode !== 'snapshot') return []
  // --force: a listed directory that became a file replaces the whole directory, as a full run's --delete would.
  const listed = changedPaths ? [`--files-from=${changedPaths}`, '--from0', '--delete-missing-args', '--force'] : []
  // Without --no-whole-file rsync copies whole files between local paths and on fast links,
  // which would rewrite (and un-share) every changed file in the snapshot.
  return ['--inplace', '--no-whole-file', ...KEEP_FAKE_SUPER_RECORDS, ...listed]
}

/** serve reads the mode off the request: --inplace is only ever safe in a private snapshot. */
export const isInplaceRequest = (options: readonly string[]) => options.includes('--inplace')

/** A transfer of only the paths that changed, none of them hard-linked (lib/changed-paths.ts). */
export const isListedRequest = (options: readonly string[]) => options.includes('--delete-missing-args')
