#!/usr/bin/env tsx
// Transfer modes side by side: famlab's replicate in link-dest, snapshot and send mode against a bare
// `rsync --link-dest` over the same ssh, and against the bare tool each mode drives, into the same
// btrfs holder, on the same tree, in one run. Prints a markdown table; ratios are medians over medians.
//   node --import tsx bench/modes.ts [--files N] [--repeat R] [--modes link-dest,snapshot,send]   (the reference size: --files 150000)
// `make bench` runs it after bench/run.ts, with the same household tree (bench/household.ts).
import minimist from 'minimist'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run, runChecked } from '../lib/exec.ts'
import { ARCHIVE_FLAGS } from '../lib/rsync.ts'
import { createFamily, type Node } from '../test/harness/family.ts'
import { inMode } from '../test/harness/modes.ts'
import { touchFiles, writeHousehold } from './household.ts'
import { flushWrites, settle } from './settle.ts'

const args = minimist(process.argv.slice(2), { string: ['files', 'repeat', 'modes'] })
const FILES = Number(args.files ?? 20000)
const REPEAT = Number(args.repeat ?? 3)
const MODES = String(args.modes ?? 'link-dest,snapshot,send').split(',')

/** `bare`: bare rsync --link-dest; `own`: the bare tool the mode drives (bareModeTool). */
type Row = { operation: string; mode: string; seconds: number[]; bare: number[]; own: number[]; background: number[] }
/** The issue's targets, no-change at 150k files: snapshot ≤ 0.40×, send ≤ 0.05× of bare rsync --link-dest. */
const TARGETS: Record<string, number> = { 'no-change incremental snapshot': 0.4, 'no-change incremental send': 0.05 }
const target = (r: Row) => TARGETS[`${r.operation} ${r.mode}`]
const rows: Row[] = []
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
let hour = 0
const nextNow = () => new Date(Date.UTC(2026, 10, 23, 10) + hour++ * 3600_000).toISOString().replace('.000', '')

async function timed(action: () => Promise<{ ok: boolean; stderr: string }>): Promise<number> {
  await flushWrites()
  const start = performance.now()
  const result = await action()
  if (!result.ok) throw new Error(result.stderr.trim())
  return (performance.now() - start) / 1000
}

/** Bare rsync --link-dest into the holder, with an unrestricted key: what a cron job would do. */
function bareRsync(alice: Node, bob: Node, sshConfig: string) {
  const names: string[] = []
  return async (): Promise<number> => {
    const name = `bare-${names.length}`
    const previous = names.at(-1)
    const seconds = await timed(() => run([
      'rsync', ...ARCHIVE_FLAGS, '--delete', '-e', `ssh -F ${sshConfig}`, '--rsync-path=rsync --fake-super',
      ...(previous ? [`--link-dest=../${previous}`] : []), `${alice.root}/local/`, `bare-bob:${bob.root}/bare/${name}/`,
    ]))
    names.push(name)
    return seconds
  }
}

/**
 * The bare tool each mode drives, by hand, into the same holder: for snapshot mode a writable
 * snapshot of the last copy and `rsync --inplace --no-whole-file` into it over the same ssh; for
 * send mode `btrfs send -p` piped into `btrfs receive` on this machine (no ssh: it needs root there).
 */
function bareModeTool(alice: Node, bob: Node, sshConfig: string, mode: string) {
  const copies = join(bob.root, `bare-${mode}`)
  const sources = join(alice.root, `bare-${mode}-sources`)
  let count = 0
  return async (): Promise<number | undefined> => {
    const name = String(count++)
    if (mode === 'snapshot') {
      const target = join(copies, name)
      if (name === '0') await runChecked(['btrfs', '-q', 'subvolume', 'create', target])
      return timed(async () => {
        if (name !== '0') await runChecked(['btrfs', '-q', 'subvolume', 'snapshot', join(copies, String(count - 2)), target])
        await runChecked(['chown', bob.user, target])
        return run(['rsync', ...ARCHIVE_FLAGS, '--delete', '--inplace', '--no-whole-file', '-e', `ssh -F ${sshConfig}`, '--rsync-path=rsync --fake-super',
          `${alice.root}/local/`, `bare-bob:${target}/`])
      })
    }
    if (mode === 'send') {
      await runChecked(['btrfs', '-q', 'subvolume', 'snapshot', '-r', join(alice.root, 'local'), join(sources, name)])
      const parent = name === '0' ? '' : `-p ${join(sources, String(count - 2))}`
      return timed(() => run(['bash', '-c', `set -o pipefail; btrfs send -q ${parent} ${join(sources, name)} | btrfs receive -q ${copies}`]))
    }
    return undefined
  }
}

async function main(): Promise<void> {
  // Room for the tree, each mode's replicas and the bare copies (as bench/run.ts sizes it).
  const imageSize = `${Math.max(2, Math.ceil((FILES * 12_000 * 8) / 1e9) + 1)}G`
  const family = await createFamily(['alice', 'bob'], { imageSize, config: inMode('link-dest') })
  try {
    const [alice, bob] = family.nodes
    const key = join(family.base, 'bare_key')
    await runChecked(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', key])
    writeFileSync(join(bob.dir, 'bare_authorized_keys'), readFileSync(`${key}.pub`))
    await runChecked(['install', '-d', '-o', bob.user, join(bob.root, 'bare')])
    const sshConfig = join(family.base, 'bare_ssh_config')
    writeFileSync(sshConfig, [`Host bare-bob`, '  HostName 127.0.0.1', `  Port ${bob.port}`, `  User ${bob.user}`, `  IdentityFile ${key}`,
      '  IdentitiesOnly yes', `  UserKnownHostsFile ${join(alice.state, 'known_hosts')}`, '  HostKeyAlias famlab-bob', '  BatchMode yes', ''].join('\n'))
    const bare = bareRsync(alice, bob, sshConfig)
    for (const dir of [join(bob.root, 'bare-snapshot'), join(bob.root, 'bare-send'), join(alice.root, 'bare-send-sources')]) await runChecked(['install', '-d', dir])
    const replicate = async () => {
      const env = { FAMLAB_NOW: nextNow() }
      const snap = await alice.famlab(['snapshot'], { env })
      if (!snap.ok) throw new Error(snap.stderr)
      const seconds = await timed(() => alice.famlab(['replicate', '--peer', 'bob'], { env }))
      return { seconds, background: await settle(family.base) }
    }

    process.stderr.write(`bench: writing a household of ${FILES} files\n`)
    const household = await writeHousehold(join(alice.root, 'local'), FILES)
    const changeOnePercent = (dir: string, round: number) => touchFiles(dir, household, 0.01, round)
    await bare()
    const enabled = await bob.famlab(['send-receiver', 'enable'])
    if (!enabled.ok) throw new Error(enabled.stderr)
    for (const mode of MODES) {
      alice.writeConfig(inMode(mode as 'link-dest'))
      await replicate() // the first in a mode is a full copy (or a one-time seed); not measured
      const own = bareModeTool(alice, bob, sshConfig, mode)
      await own()
      const operations: [string, (dir: string, round: number) => unknown][] = [['no-change incremental', () => {}], ['1% of files changed', changeOnePercent]]
      for (const [operation, prepare] of operations) {
        const row: Row = { operation, mode, seconds: [], bare: [], own: [], background: [] }
        for (let round = 0; round < REPEAT; round++) {
          prepare(join(alice.root, 'local'), hour)
          row.bare.push(await bare())
          const ownSeconds = await own()
          if (ownSeconds !== undefined) row.own.push(ownSeconds)
          const ours = await replicate()
          row.seconds.push(ours.seconds)
          row.background.push(ours.background)
          process.stderr.write(`bench: ${operation}, ${mode}: famlab ${row.seconds.at(-1)!.toFixed(2)} s, bare ${row.bare.at(-1)!.toFixed(2)} s${ownSeconds === undefined ? '' : `, bare ${mode} ${ownSeconds.toFixed(2)} s`}\n`)
        }
        rows.push(row)
      }
    }

    // Deleting one old replica: the holder's rm -rf of a hard-link tree against a subvolume delete
    const replicas = join(bob.root, 'replicas/alice')
    const del: Row = { operation: 'delete one old replica', mode: 'snapshot, send', seconds: [], bare: [], own: [], background: [] }
    const subvolumes = (await runChecked(['btrfs', 'subvolume', 'list', '-o', replicas])).trim().split('\n').map((l) => l.split(' path ').at(-1)!)
    for (let round = 0; round < Math.min(REPEAT, subvolumes.length - 1); round++) {
      del.bare.push(await timed(() => run(['rm', '-rf', join(bob.root, 'bare', `bare-${round}`)])))
      const victim = join(bob.root, subvolumes[round])
      del.seconds.push(await timed(() => run(['btrfs', 'subvolume', 'delete', victim])))
    }
    rows.push(del)

    const s = (xs: number[]) => (xs.length ? `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})` : '')
    process.stdout.write([
      '', `famlab transfer modes vs bare rsync --link-dest, ${FILES} files (${(household.bytes / 1e9).toFixed(2)} GB), seconds: median (min–max) of ${REPEAT}`, '',
      '| operation | mode | famlab s | bare rsync --link-dest s | ratio | target (150k files) | met | the mode\'s bare tool s | ratio to it | holder\'s measurement after, s |',
      '|---|---|---|---|---|---|---|---|---|---|',
      ...rows.map((r) => {
        const ratio = median(r.seconds) / median(r.bare)
        const goal = target(r)
        const toOwn = r.own.length ? `${(median(r.seconds) / median(r.own)).toFixed(2)}×` : ''
        return `| ${r.operation} | ${r.mode} | ${s(r.seconds)} | ${s(r.bare)} | ${ratio.toFixed(3)}× | ${goal ? `≤ ${goal.toFixed(2)}×` : ''} | ${goal ? (ratio <= goal ? 'yes' : 'NO') : ''} | ${s(r.own)} | ${toOwn} | ${s(r.background)} |`
      }), '',
    ].join('\n'))
  } finally {
    await family.cleanup()
  }
}

await main()
