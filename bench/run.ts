#!/usr/bin/env tsx
// make bench: famlab against the bare rsync it drives, side by side in one run, on one real
// three-node family (btrfs loop files, one sshd per node), the same household tree, the same ssh.
// Every row is repeated (min/median/max); the ratio is famlab's median over bare's median.
// Results go to bench/results/<time>.json and a markdown table on stdout.
import minimist from 'minimist'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run, runChecked, type Result } from '../lib/exec.ts'
import { ARCHIVE_FLAGS, parseStats } from '../lib/rsync.ts'
import { createFamily, type Family, type Node } from '../test/harness/family.ts'
import { rewriteBand, touchFiles, writeHousehold, type Household } from './household.ts'
import { flushWrites, settle } from './settle.ts'

const ROWS = ['no-change', 'incremental', 'band', 'bwlimit', 'restore', 'prune']

const usage = `bench/run.ts [--files N] [--repeat R] [--mode MODE] [--no-bwlimit] [--only ROWS] [--keep]
  --files N     household size (default 20000; the reference size is 150000)
  --repeat R    runs per row (default 3)
  --mode MODE   famlab's replication.mode (default link-dest, the mode bare rsync --link-dest mirrors)
  --keep        leave the family mounted for a look afterwards (make demo-clean removes it)
  --no-bwlimit  skip the 250 KiB/s (2 Mbit/s uplink) row
  --only ROWS   the first full backup (every row needs it), then only these, comma-separated:
                ${ROWS.join(', ')} (bwlimit needs no-change)
`

type Timing = { min: number; median: number; max: number }
type Row = {
  operation: string
  famlab: Timing
  bare?: Timing
  ratio?: number
  /** Bytes rsync sent per peer (median), and the bytes the operation changed in the tree. */
  wire?: { famlab: number; bare?: number; changed?: number }
  note?: string
  /** The targets for this row, and whether this run met them. */
  target?: string
  met?: boolean
}

const summarize = (values: number[]): Timing => {
  const sorted = [...values].sort((a, b) => a - b)
  return { min: sorted[0], median: sorted[Math.floor(sorted.length / 2)], max: sorted.at(-1)! }
}
const median = (values: number[]) => summarize(values).median

async function timed(body: () => Promise<Result>): Promise<{ seconds: number; result: Result }> {
  await flushWrites()
  const start = performance.now()
  const result = await body()
  if (!result.ok) throw new Error(`${result.stderr.trim() || result.stdout.trim()}`)
  return { seconds: (performance.now() - start) / 1000, result }
}

/** Each famlab run is an hour after the last, so snapshot names never collide. */
let hour = 0
const nextNow = () => ({ FAMLAB_NOW: new Date(Date.UTC(2026, 0, 1) + ++hour * 3600_000).toISOString() })

/** famlab's bytes sent per peer in its last run, from its own history. */
function famlabWireBytes(node: Node): number {
  const entries = readFileSync(join(node.state, 'history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
  const lastRun = entries.filter((e) => e.step === 'replicate' && e.snapshot === entries.findLast((x) => x.step === 'replicate')?.snapshot)
  return median(lastRun.map((e) => e.bytes ?? 0))
}

/** Deletes what a directory holds, btrfs subvolumes included. */
async function wipe(dir: string): Promise<void> {
  for (const entry of existsSync(dir) ? readdirSync(dir) : []) {
    const path = join(dir, entry)
    if ((await run(['btrfs', 'subvolume', 'show', path])).ok) await runChecked(['btrfs', '-q', 'subvolume', 'delete', path])
    else await runChecked(['rm', '-rf', path])
  }
}

class Bench {
  readonly rows: Row[] = []
  private bareNames: string[] = []
  private readonly holders: Node[]
  private readonly bareSsh: string

  constructor(readonly family: Family, readonly origin: Node, readonly household: Household, readonly repeat: number, readonly mode: string) {
    this.holders = family.nodes.filter((n) => n !== origin)
    this.bareSsh = `ssh -F ${join(family.base, 'bare_ssh_config')}`
  }

  /** An unrestricted key and account on each holder: what a bare rsync cron job would use. */
  async prepareBare(): Promise<void> {
    const key = join(this.family.base, 'bare_key')
    await runChecked(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', key])
    const config: string[] = []
    for (const holder of this.holders) {
      writeFileSync(join(holder.dir, 'bare_authorized_keys'), readFileSync(`${key}.pub`))
      await runChecked(['install', '-d', '-o', holder.user, join(holder.root, 'bare')])
      config.push(`Host bare-${holder.name}`, '  HostName 127.0.0.1', `  Port ${holder.port}`, `  User ${holder.user}`,
        `  HostKeyAlias famlab-${holder.name}`)
    }
    config.push('Host *', `  IdentityFile ${key}`, '  IdentitiesOnly yes', `  UserKnownHostsFile ${join(this.origin.state, 'known_hosts')}`,
      '  StrictHostKeyChecking yes', '  BatchMode yes', '  LogLevel ERROR')
    writeFileSync(join(this.family.base, 'bare_ssh_config'), `${config.join('\n')}\n`)
  }

  /** The bare equivalent of famlab's replicate: one rsync --link-dest per holder, one after the other. */
  async bareBackup(name: string, options: { bwlimitKbps?: number } = {}): Promise<{ seconds: number; bytes: number }> {
    const previous = this.bareNames.at(-1)
    const start = performance.now()
    const sent: number[] = []
    for (const holder of this.holders) {
      const result = await run([
        'rsync', ...ARCHIVE_FLAGS, '--delete', '--stats', '-e', this.bareSsh, '--rsync-path=rsync --fake-super',
        ...(options.bwlimitKbps ? [`--bwlimit=${options.bwlimitKbps}`] : []),
        ...(previous ? [`--link-dest=../${previous}`] : []),
        `${this.origin.root}/local/`, `bare-${holder.name}:${holder.root}/bare/${name}/`,
      ])
      if (!result.ok) throw new Error(`bare rsync to ${holder.name}: ${result.stderr.trim()}`)
      sent.push(parseStats(result.stdout)?.bytesSent ?? 0)
    }
    this.bareNames.push(name)
    return { seconds: (performance.now() - start) / 1000, bytes: median(sent) }
  }

  /** Then the holders' background measurement is waited out, untimed: the next run, ours or bare, has the machine to itself. */
  async famlabBackup(): Promise<{ seconds: number; bytes: number }> {
    const { seconds } = await timed(() => this.origin.famlab(['backup'], { env: nextNow() }))
    await settle(this.family.base)
    return { seconds, bytes: famlabWireBytes(this.origin) }
  }

  /** Runs famlab and bare alternately `repeat` times, after `prepare` each time. */
  async compare(operation: string, prepare: (round: number) => Promise<number | void>, famlab: () => Promise<{ seconds: number; bytes?: number }>,
    bare: () => Promise<{ seconds: number; bytes?: number }>, note?: string): Promise<void> {
    const f: number[] = [], b: number[] = [], fBytes: number[] = [], bBytes: number[] = [], changed: number[] = []
    for (let round = 0; round < this.repeat; round++) {
      const change = await prepare(round)
      if (typeof change === 'number') changed.push(change)
      // Each round swaps who goes first, so neither always reads from a cold page cache
      let ours: { seconds: number; bytes?: number }, theirs: { seconds: number; bytes?: number }
      if (round % 2 === 0) {
        ours = await famlab()
        theirs = await bare()
      } else {
        theirs = await bare()
        ours = await famlab()
      }
      f.push(ours.seconds), b.push(theirs.seconds)
      if (ours.bytes !== undefined) fBytes.push(ours.bytes)
      if (theirs.bytes !== undefined) bBytes.push(theirs.bytes)
      process.stderr.write(`bench: ${operation} #${round + 1}: famlab ${ours.seconds.toFixed(2)} s, bare ${theirs.seconds.toFixed(2)} s\n`)
    }
    const row: Row = { operation, famlab: summarize(f), bare: summarize(b), ratio: median(f) / median(b), note }
    if (fBytes.length) row.wire = { famlab: median(fBytes), bare: bBytes.length ? median(bBytes) : undefined, changed: changed.length ? median(changed) : undefined }
    this.rows.push(row)
  }

  async fullBackup(): Promise<void> {
    await this.compare('first full backup', async () => {
      await wipe(join(this.origin.root, 'snapshots'))
      for (const holder of this.holders) {
        await wipe(join(holder.root, 'replicas', this.origin.name))
        await wipe(join(holder.root, 'bare'))
      }
      this.bareNames = []
    }, () => this.famlabBackup(), () => this.bareBackup(`full-${hour}`))
  }

  async noChangeBackup(): Promise<void> {
    await this.compare('no-change backup', async () => {}, () => this.famlabBackup(), () => this.bareBackup(`same-${hour}`))
  }

  async incrementalBackup(): Promise<void> {
    const local = join(this.origin.root, 'local')
    await this.compare('incremental: 1% of files + 1 MiB in a band', async (round) =>
      touchFiles(local, this.household, 0.01, round) + rewriteBand(this.household.bands[round % this.household.bands.length]),
    () => this.famlabBackup(), () => this.bareBackup(`incr-${hour}`))
  }

  async bandRewrite(): Promise<void> {
    await this.compare('1 MiB rewritten in one 8 MiB band', async () => rewriteBand(this.household.bands[0]),
      () => this.famlabBackup(), () => this.bareBackup(`band-${hour}`))
  }

  /** With a 2 Mbit/s uplink a run should take what a no-change run takes plus its bytes ÷ the bandwidth. */
  async slowUplink(): Promise<void> {
    const kbps = 250
    const noChange = this.rows.find((r) => r.operation === 'no-change backup')!.famlab.median
    this.origin.writeConfig(benchConfig(this.mode, kbps))
    const local = join(this.origin.root, 'local')
    const f: number[] = [], predicted: number[] = []
    for (let round = 0; round < this.repeat; round++) {
      rewriteBand(this.household.bands[1], 2)
      touchFiles(local, this.household, 0.001, 200 + round)
      const ours = await this.famlabBackup()
      f.push(ours.seconds)
      predicted.push(noChange + (ours.bytes * this.holders.length) / (kbps * 1024))
      process.stderr.write(`bench: bwlimit #${round + 1}: ${ours.seconds.toFixed(2)} s for ${ours.bytes} bytes per peer\n`)
    }
    this.origin.writeConfig(benchConfig(this.mode))
    this.rows.push({ operation: `incremental at bwlimit ${kbps} KiB/s (2 Mbit/s)`, famlab: summarize(f), ratio: median(f) / median(predicted),
      note: `ratio against no-change time + bytes ÷ bandwidth = ${median(predicted).toFixed(1)} s` })
  }

  async restore(): Promise<void> {
    const holder = this.holders[0]
    const ours = join(this.family.base, 'restore-famlab'), theirs = join(this.family.base, 'restore-bare')
    if ((await this.origin.famlab(['restore', '--help'])).code !== 0) {
      this.rows.push({ operation: 'restore of the newest snapshot', famlab: summarize([0]), note: 'skipped: no famlab restore in this build' })
      return
    }
    await this.compare('restore of the newest snapshot', async () => {
      await runChecked(['rm', '-rf', ours, theirs])
    }, () => timed(() => this.origin.famlab(['restore', '--from', holder.name, '--to', ours])),
    () => timed(() => run(['rsync', ...ARCHIVE_FLAGS, '-e', this.bareSsh, '--rsync-path=rsync --fake-super',
      `bare-${holder.name}:${holder.root}/bare/${this.bareNames.at(-1)}/`, `${theirs}/`])))
  }

  /** 90 daily snapshots on a node, then retention keeps a week of them; bare deletes the same ones. */
  async pruneSeries(node: Node): Promise<void> {
    const snapshots = join(node.root, 'snapshots')
    const makeSeries = async () => {
      await wipe(snapshots)
      for (const name of SERIES) await runChecked(['btrfs', '-q', 'subvolume', 'snapshot', '-r', join(node.root, 'local'), join(snapshots, name)])
    }
    let doomed: string[] = []
    await this.compare('prune of a 90-day series (keep 7d)', makeSeries, async () => {
      const result = await timed(() => node.famlab(['prune'], { env: SERIES_NOW }))
      doomed = SERIES.filter((n) => !existsSync(join(snapshots, n)))
      await makeSeries()
      return result
    }, () => timed(() => run(['btrfs', '-q', 'subvolume', 'delete', ...doomed.map((n) => join(snapshots, n))])))
  }

  /**
   * The same series as a link-dest holder keeps it, and as a bare rsync --link-dest job leaves
   * it: 90 hard-linked copies of one tree, plain directories, which bare deletes with rm -rf.
   * It sits in replicas/ of an origin nobody else uses; the node's other replicas are set aside.
   */
  async pruneLinkDestSeries(node: Node): Promise<void> {
    const replicas = join(node.root, 'replicas')
    for (const origin of readdirSync(replicas).filter((e) => !e.startsWith('.'))) renameSync(join(replicas, origin), join(replicas, `.bench-aside-${origin}`))
    node.writeConfig({ ...benchConfig(this.mode), retention: { local: '*h', replicas: '7d' } })
    // Hard links cannot cross into another btrfs subvolume: the trees link to a copy of local/ beside them.
    const tree = join(replicas, '.bench-tree'), series = join(replicas, 'zoe')
    await runChecked(['cp', '-a', join(node.root, 'local'), tree])
    const makeSeries = async () => {
      await runChecked(['rm', '-rf', series])
      mkdirSync(series)
      for (const name of SERIES) await runChecked(['cp', '-al', tree, join(series, name)])
    }
    let doomed: string[] = []
    await this.compare('prune of the same series as link-dest trees (keep 7d)', makeSeries, async () => {
      const result = await timed(() => node.famlab(['prune'], { env: SERIES_NOW }))
      doomed = SERIES.filter((n) => !existsSync(join(series, n)))
      await makeSeries()
      return result
    }, () => timed(() => run(['rm', '-rf', ...doomed.map((n) => join(series, n))])), 'bare: rm -rf of the same 83 hard-linked trees')
  }
}

/** 90 daily snapshot names, and a moment after them at which "7d" keeps the last week. */
const SERIES = Array.from({ length: 90 }, (_, day) => new Date(Date.UTC(2025, 6, 1) + day * 86400_000).toISOString().replace(/:/g, '').replace('.000', ''))
const SERIES_NOW = { FAMLAB_NOW: '2025-09-29T12:00:00Z' }

/** Keeps every snapshot, never waits for Time Machine, and replicates the way `--mode` says. */
const benchConfig = (mode: string, bwlimitKbps = 0) => ({
  retention: { local: '*h', replicas: '*h' },
  timemachine: { quiet_minutes: 0 },
  replication: { mode, bwlimit_kbps: bwlimitKbps },
})

const MIB = 1 << 20

/** famlab ≤ 1.10× the bare tool on every row; an incremental sends its changes plus rsync's per-file
 * overhead (what a no-change run sends); 1 MiB rewritten in a band sends < 2 MiB. */
function judge(rows: Row[]): void {
  const perFileOverhead = rows.find((r) => r.operation === 'no-change backup')?.wire?.famlab ?? 0
  for (const row of rows) {
    if (row.ratio === undefined) continue
    const targets: [string, boolean][] = [['≤ 1.10×', row.ratio <= 1.1]]
    const wire = row.wire?.famlab
    if (row.operation.startsWith('incremental:') && wire !== undefined && row.wire?.changed !== undefined) {
      targets.push(['wire ≤ 1.05 × changed + no-change wire', wire <= 1.05 * row.wire.changed + perFileOverhead])
    }
    if (row.operation.startsWith('1 MiB rewritten') && wire !== undefined) targets.push(['wire < 2 MiB', wire < 2 * MIB])
    row.target = targets.map(([t]) => t).join('; ')
    row.met = targets.every(([, ok]) => ok)
  }
}

function markdown(rows: Row[], files: number, mode: string): string {
  const mib = (b?: number) => (b === undefined ? '' : `${(b / MIB).toFixed(2)} MiB`)
  const t = (x?: Timing) => (x ? `${x.median.toFixed(2)} (${x.min.toFixed(2)}–${x.max.toFixed(2)})` : '')
  const lines = [
    `famlab (${mode}) vs bare rsync --link-dest, ${files} files, seconds as median (min–max)`, '',
    '| operation | famlab s | bare rsync s | ratio | wire famlab/peer | wire bare/peer | changed | target | met | note |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.operation} | ${t(r.famlab)} | ${t(r.bare)} | ${r.ratio?.toFixed(2) ?? ''} | ${mib(r.wire?.famlab)} | ${mib(r.wire?.bare)} | ${mib(r.wire?.changed)} | ${r.target ?? ''} | ${r.met === undefined ? '' : r.met ? 'yes' : 'NO'} | ${r.note ?? ''} |`),
  ]
  return `${lines.join('\n')}\n`
}

export async function main(argv: string[]): Promise<number> {
  const args = minimist(argv, { boolean: ['help', 'bwlimit', 'keep'], string: ['mode', 'only'], default: { files: 20000, repeat: 3, bwlimit: true, mode: 'link-dest' } })
  if (args.help) return process.stdout.write(usage), 0
  const files = Number(args.files), repeat = Number(args.repeat), mode = String(args.mode)
  if (!Number.isInteger(files) || files < 100 || !Number.isInteger(repeat) || repeat < 1) {
    process.stderr.write(`bench: --files wants a whole number ≥ 100 and --repeat ≥ 1\n${usage}`)
    return 2
  }
  const only = args.only === undefined ? new Set(ROWS) : new Set(String(args.only).split(','))
  if ([...only].some((row) => !ROWS.includes(row)) || (only.has('bwlimit') && !only.has('no-change'))) {
    process.stderr.write(`bench: --only wants rows out of ${ROWS.join(', ')}, and bwlimit only with no-change\n${usage}`)
    return 2
  }
  // Room for the tree, famlab's replicas and the bare copies, with a margin for btrfs metadata.
  const imageSize = `${Math.max(2, Math.ceil((files * 12_000 * 4) / 1e9) + 1)}G`
  const family = await createFamily(['alice', 'bob', 'carol'], { config: benchConfig(mode), imageSize })
  try {
    const [alice, , carol] = family.nodes
    process.stderr.write(`bench: writing a household of ${files} files\n`)
    const household = await writeHousehold(join(alice.root, 'local'), files)
    const bench = new Bench(family, alice, household, repeat, mode)
    await bench.prepareBare()
    await bench.fullBackup()
    if (only.has('no-change')) await bench.noChangeBackup()
    if (only.has('incremental')) await bench.incrementalBackup()
    if (only.has('band')) await bench.bandRewrite()
    if (only.has('bwlimit') && args.bwlimit) await bench.slowUplink()
    if (only.has('restore')) await bench.restore()
    if (only.has('prune')) {
      await writeHousehold(join(carol.root, 'local'), 1000, 2)
      carol.writeConfig({ ...benchConfig(mode), retention: { local: '7d', replicas: '*h' } })
      await bench.pruneSeries(carol)
      await bench.pruneLinkDestSeries(carol)
    }

    judge(bench.rows)
    const table = markdown(bench.rows, files, mode)
    process.stdout.write(table)
    const results = join(import.meta.dirname, 'results')
    mkdirSync(results, { recursive: true })
    const file = join(results, `${new Date().toISOString().replace(/[:.]/g, '-')}-${files}.json`)
    writeFileSync(file, `${JSON.stringify({ files, repeat, mode, bytes: household.bytes, rows: bench.rows }, null, 2)}\n`)
    process.stderr.write(`bench: wrote ${file}\n`)
    return 0
  } finally {
    if (!args.keep) await family.cleanup()
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code }, (err) => {
  process.stderr.write(`bench: ${(err as Error).message}\n`)
  process.exitCode = 1
})
