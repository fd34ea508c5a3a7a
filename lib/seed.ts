// Seeding over a slow uplink: the newest snapshot goes to a carried disk with a checksum list,
// and the peer places it as a complete replica exactly as a network transfer would have
// (received as ssh.user with --fake-super), so the next network run sends only the difference.
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isSnapshotName } from './clock.ts'
import type { Context } from './context.ts'
import { run, runChecked } from './exec.ts'
import { FamlabError, UsageError } from './exit.ts'
import { INCOMPLETE, storage } from './paths.ts'
import { finalizeIncomplete, linkDests, prepareIncomplete } from './receive.ts'
import { ARCHIVE_FLAGS, parseStats } from './rsync.ts'
import { chownToServiceUser, readJsonFile } from './state.ts'

export const SEED_FORMAT = 'famlab-seed/1'

export type SeedManifest = {
  format: typeof SEED_FORMAT
  origin: string
  peer: string
  snapshot: string
  /** Every entry of the tree (files, dirs, links…), to notice a truncated copy. */
  entries: number
  created: string
}

const seedName = (origin: string, snap: string) => `famlab-seed-${origin}-${snap}`

async function countEntries(dir: string): Promise<number> {
  return (await runChecked(['find', dir, '-mindepth', '1', '-printf', '.'])).length
}

/** Copies `snap` to `<to>/famlab-seed-<origin>-<snap>/`; a half-written seed never has that name. */
export async function exportSeed(ctx: Context, snap: string, peer: string, to: string): Promise<string> {
  const source = storage(ctx.config).snapshot(snap)
  const final = join(to, seedName(ctx.config.node, snap))
  const work = join(to, `.${seedName(ctx.config.node, snap)}${INCOMPLETE}`)
  if (existsSync(final)) throw new FamlabError(`${final} already exists; nothing was changed`)
  mkdirSync(work, { recursive: true, mode: 0o700 })

  // The tree, then checksums of the source (not of the copy), so import checks the whole journey
  ctx.log.info('seed', `copying ${snap} to ${work}`)
  await runChecked(['rsync', ...ARCHIVE_FLAGS, '--delete', '--', `${source}/`, join(work, 'tree/')])
  ctx.log.info('seed', 'computing checksums')
  const sums = await runChecked(['bash', '-c', 'cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum', 'seed', source])
  writeFileSync(join(work, 'SHA256SUMS'), sums, { mode: 0o600 })
  const manifest: SeedManifest = {
    format: SEED_FORMAT, origin: ctx.config.node, peer, snapshot: snap,
    entries: await countEntries(source), created: ctx.clock.now().toISOString(),
  }
  writeFileSync(join(work, 'seed.json'), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 })
  renameSync(work, final)
  return final
}

/** `--from` may be the seed directory itself or the disk holding it (then the newest seed of origin). */
export function findSeed(from: string, origin: string): string {
  if (existsSync(join(from, 'seed.json'))) return from
  const prefix = `famlab-seed-${origin}-`
  const seeds = (existsSync(from) ? readdirSync(from) : []).filter((n) => n.startsWith(prefix) && isSnapshotName(n.slice(prefix.length))).sort()
  if (seeds.length === 0) throw new UsageError(`--from: ${from} holds no seed of ${origin} (famlab-seed-${origin}-<snap>/seed.json)`)
  return join(from, seeds.at(-1)!)
}

/** Checks the manifest against what the caller expects and the tree against its checksums. */
export async function checkSeed(ctx: Context, seed: string, origin: string): Promise<SeedManifest> {
  const manifest = readJsonFile<SeedManifest>(join(seed, 'seed.json'))
  if (manifest?.format !== SEED_FORMAT) throw new UsageError(`--from: ${join(seed, 'seed.json')} is missing or not a ${SEED_FORMAT} manifest`)
  if (manifest.origin !== origin) throw new UsageError(`--origin: the seed in ${seed} is of ${manifest.origin}, not ${origin}`)
  if (manifest.peer !== ctx.config.node) throw new UsageError(`--from: the seed in ${seed} was made for ${manifest.peer}, not for ${ctx.config.node}`)
  if (!isSnapshotName(manifest.snapshot)) throw new UsageError(`--from: the seed names no valid snapshot ("${manifest.snapshot}")`)
  const tree = join(seed, 'tree')
  const entries = await countEntries(tree)
  if (entries !== manifest.entries) throw new FamlabError(`the seed in ${seed} has ${entries} entries, its manifest says ${manifest.entries}: the copy is incomplete`)
  ctx.log.info('seed', `checking ${seed} against its checksums`)
  const check = await run(['sha256sum', '--check', '--quiet', '--strict', join(seed, 'SHA256SUMS')], { cwd: tree })
  if (!check.ok) {
    const bad = check.stdout.split('\n').filter((l) => /: FAILED/.test(l))
    throw new FamlabError(`the seed in ${seed} is damaged: ${bad.length || 'some'} files differ from the source (${bad[0] ?? check.stderr.trim().split('\n')[0]})`)
  }
  return manifest
}

/**
 * Places a checked seed as replicas/<origin>/<snap>. The receiving rsync runs as ssh.user with
 * the same options serve gives it, so the replica is what a network transfer would have made.
 */
export async function importSeed(ctx: Context, seed: string, manifest: SeedManifest): Promise<number> {
  const paths = storage(ctx.config)
  const originDir = paths.replicasOf(manifest.origin)
  if (existsSync(join(originDir, manifest.snapshot))) throw new FamlabError(`${manifest.snapshot} of ${manifest.origin} is already held here; nothing was changed`)
  if (!existsSync(originDir)) {
    mkdirSync(originDir, { mode: 0o700 })
    chownToServiceUser(ctx.config, originDir)
  }
  prepareIncomplete(originDir)
  chownToServiceUser(ctx.config, join(originDir, INCOMPLETE))
  const asServiceUser = `sh -c 'shift; exec runuser -u ${ctx.config.ssh.user} -- "$@"' seed`
  const transfer = await run([
    'rsync', ...ARCHIVE_FLAGS, '--delete', '--stats', '-M--fake-super', '-M--munge-links',
    ...linkDests(originDir).map((d) => `--link-dest=${d}`), '-e', asServiceUser,
    '--', `${join(seed, 'tree')}/`, `seed:${join(originDir, INCOMPLETE)}/`,
  ])
  if (!transfer.ok) throw new FamlabError(`placing the seed failed (rsync ${transfer.code}): ${transfer.stderr.trim().split('\n').at(-1)}`)
  const finalized = finalizeIncomplete(originDir, manifest.snapshot)
  if (!finalized.ok) throw new FamlabError(`the seed was copied but not finalized: ${finalized.reason}`)
  return parseStats(transfer.stdout)?.files ?? 0
}
