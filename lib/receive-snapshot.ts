// The holder's side of a snapshot-mode transfer, run by `serve` as ssh.user in replicas/<origin>/.
// `.incomplete` is a writable btrfs snapshot of the newest complete replica, which rsync then
// rewrites in place: copy-on-write keeps every complete replica as it was.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createSnapshot, createSubvolume, isReadonly, isSubvolume, setReadonly } from './btrfs.ts'
import { runChecked } from './exec.ts'
import { INCOMPLETE, INCOMPLETE_BASIS, RESUME } from './paths.ts'
import { finalizeIncomplete, finalizeRefusal, newestOwnReplica, type FinalizeResult } from './receive.ts'

/**
 * Makes `.incomplete` a private subvolume holding the newest complete replica. An interrupted
 * snapshot-mode `.incomplete` is already one and is kept (rsync converges it); one left by
 * link-dest mode holds hard links into complete replicas, so it becomes `.resume`, untouched.
 * `separateLinks: false`: the sender writes no hard-linked file (a listed transfer,
 * lib/changed-paths.ts), so the walk that finds them is spared.
 */
export async function prepareSnapshotIncomplete(originDir: string, { separateLinks }: { separateLinks: boolean }): Promise<void> {
  const incomplete = join(originDir, INCOMPLETE)
  if (existsSync(incomplete) && !isSubvolume(incomplete)) {
    rmSync(join(originDir, RESUME), { recursive: true, force: true })
    renameSync(incomplete, join(originDir, RESUME))
  }
  // A `.incomplete` that a transfer may have changed is no longer a plain copy of its basis.
  rmSync(join(originDir, INCOMPLETE_BASIS), { force: true })
  // Where the hard links `.incomplete` holds can be found; none in a fresh subvolume or a copy made without them.
  let linksIn: string | undefined = incomplete
  // What a sender may have listed its changes against: only an exact copy, hard links and all.
  let basis: string | undefined
  if (!existsSync(incomplete)) {
    const newest = newestOwnReplica(originDir)
    if (newest && isSubvolume(join(originDir, newest))) {
      await createSnapshot(join(originDir, newest), incomplete)
      // The same tree, but its inodes are still cached from the transfer that wrote it: at
      // 150,000 files a walk there takes 1.5 s, a first walk of the new snapshot 7-10 s.
      linksIn = join(originDir, newest)
      basis = newest
    } else {
      await createSubvolume(incomplete)
      // A replica written in link-dest mode: a one-time local reflink copy instead of a full resend.
      if (newest) await runChecked(['cp', '-a', '--reflink=always', '--no-preserve=links', '--', `${join(originDir, newest)}/.`, `${incomplete}/`])
      linksIn = undefined
    }
  } else if (await isReadonly(incomplete)) {
    // Sealed, then interrupted before its rename: which snapshot it was is unknown, so it is reused.
    await setReadonly(incomplete, false)
  }
  if (linksIn && separateLinks) await separateHardLinks(incomplete, linksIn)
  if (basis) writeFileSync(join(originDir, INCOMPLETE_BASIS), basis)
}

/** The start of finalize's refusal when `.incomplete` was not a fresh copy of the sender's basis. */
export const NOT_FROM_BASIS = 'the transfer did not start from'

/** Why a transfer of what changed since `basis` cannot be finalized, if it cannot. */
function basisRefusal(originDir: string, basis: string): string | undefined {
  const actual = existsSync(join(originDir, INCOMPLETE_BASIS)) ? readFileSync(join(originDir, INCOMPLETE_BASIS), 'utf8') : undefined
  return actual === basis ? undefined : `${NOT_FROM_BASIS} ${basis.slice(0, 40)} (${actual ? `but from ${actual}` : 'but from an interrupted transfer'})`
}

/** Where separateHardLinks stages its copies: inside `.incomplete`, so moving them back is a rename. */
const UNLINK_STAGE = '.famlab-unlink'

/**
 * rsync -H --inplace writes through a hard link into every other name of that inode, so a file
 * whose links changed at the source would corrupt its siblings. Each name in `dir` gets its own
 * (reflinked, so free) inode first; rsync then links again what is still linked at the source.
 * `linksIn` holds the same files as `dir`. One cp copies thousands of files and this process
 * renames them back: a cp and an mv per file took 40 s for 600 linked files.
 */
async function separateHardLinks(dir: string, linksIn: string): Promise<void> {
  const stage = join(dir, UNLINK_STAGE)
  rmSync(stage, { recursive: true, force: true })
  mkdirSync(stage)
  await runChecked(['find', '.', '-xdev', '-path', `./${UNLINK_STAGE}`, '-prune', '-o', '-type', 'f', '-links', '+1',
    '-exec', 'cp', '-a', '--reflink=always', '--no-preserve=links', '--parents', '-t', stage, '--', '{}', '+'], { cwd: linksIn })
  moveBack(stage, dir)
  rmSync(stage, { recursive: true, force: true })
}

function moveBack(stage: string, dir: string, rel = ''): void {
  for (const entry of readdirSync(join(stage, rel), { withFileTypes: true })) {
    const path = join(rel, entry.name)
    if (entry.isDirectory()) moveBack(stage, dir, path)
    else renameSync(join(stage, path), join(dir, path))
  }
}

/**
 * Seals a snapshot-mode `.incomplete` read-only, then names it `<snap>` like any other. `basis`:
 * the sender sent only what changed since that snapshot.
 */
export async function finalizeReceived(originDir: string, snap: string, basis?: string): Promise<FinalizeResult> {
  const refusal = finalizeRefusal(originDir, snap) ?? (basis === undefined ? undefined : basisRefusal(originDir, basis))
  if (refusal) return { ok: false, reason: refusal }
  const incomplete = join(originDir, INCOMPLETE)
  if (isSubvolume(incomplete)) await setReadonly(incomplete, true)
  return finalizeIncomplete(originDir, snap)
}
