// Fault injection on the real harness. Each fault ends with: no complete-named replica that
// differs from its source, every earlier snapshot intact, and the next backup succeeding.
// Prints a table: fault, runs, survived. FAMLAB_FAULT_SEED replays the random kill points;
// FAMLAB_FAULT_KILLS sets how many (default 10).
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { run, runChecked } from '../../lib/exec.ts'
import { createFamily, type Family, type Node } from '../harness/family.ts'
import { seededRandom, writeManyFiles, writeRichTree } from '../harness/tree.ts'
import { Witness } from '../harness/witness.ts'

const seed = Number(process.env.FAMLAB_FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31))
process.stdout.write(`# fault seed: ${seed} (FAMLAB_FAULT_SEED=${seed} replays it)\n`)
const random = seededRandom(seed)
/** `make test` runs a quick pass; `make test-faults` the full ten. */
const KILLS = Number(process.env.FAMLAB_FAULT_KILLS ?? 10)

const table: { fault: string; runs: number; survived: number }[] = []
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let hour = 0
/** Every run gets a later FAMLAB_NOW, so snapshot names never collide. */
const nextNow = () => ({ FAMLAB_NOW: new Date(Date.UTC(2026, 10, 23, 10) + hour++ * 3600_000).toISOString() })

async function writePayload(node: Node, megabytes: number): Promise<void> {
  await runChecked(['dd', 'if=/dev/urandom', `of=${join(node.root, 'local/payload.bin')}`, 'bs=1M', `count=${megabytes}`, 'status=none'])
}

/**
 * The processes of a node's ssh sessions (everything below its sshd), whose command line holds
 * `match`. Other families tested on this machine at the same time use the same account names,
 * so `pkill -u` would hit them too.
 */
function sessionProcesses(node: Node, match = ''): number[] {
  const listener = Number(readFileSync(join(node.dir, 'sshd.pid'), 'utf8'))
  const parentOf = new Map<number, number>()
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      parentOf.set(pid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]))
    } catch {
      // exited while we looked
    }
  }
  const inSession = (pid: number) => {
    for (let parent = parentOf.get(pid); parent; parent = parentOf.get(parent)) if (parent === listener) return true
    return false
  }
  const commandOf = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
    } catch {
      return ''
    }
  }
  return [...parentOf.keys()].filter((pid) => inSession(pid) && commandOf(pid).includes(match))
}

function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal)
    } catch {
      // already gone
    }
  }
}

/** Stops the receiving processes with their connection up: the sender's run must end as a timeout. */
async function stallUntilTimeout(sender: Node, receivers: number[], exited: Promise<number | null>): Promise<void> {
  signalAll(receivers, 'SIGSTOP')
  assert.notEqual(await exited, 0)
  signalAll(receivers, 'SIGKILL')
  const last = readFileSync(join(sender.state, 'history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).findLast((e) => e.step === 'replicate')
  assert.equal(last.result, 'timeout')
}

/** Waits until the holder's receiving rsync has started (and optionally written some bytes). */
async function untilReceiving(holder: Node, minBytes = 0): Promise<void> {
  // A bound on waiting, not a timing assertion: a loaded machine may take a minute to get there.
  for (let i = 0; i < 2400; i++) {
    const receiving = sessionProcesses(holder, 'rsync --server').length > 0
    const incomplete = join(holder.root, 'replicas')
    if (receiving && (minBytes === 0 || (await bytesUnder(incomplete)) >= minBytes)) return
    await sleep(50)
  }
  throw new Error(`${holder.name} never started receiving`)
}

async function bytesUnder(dir: string): Promise<number> {
  let total = 0
  for (const origin of existsSync(dir) ? readdirSync(dir) : []) {
    const incomplete = join(dir, origin, '.incomplete')
    if (!existsSync(incomplete)) continue
    for (const entry of readdirSync(incomplete, { recursive: true }) as string[]) {
      try {
        total += statSync(join(incomplete, entry)).size
      } catch {
        // a temp file renamed while we looked
      }
    }
  }
  return total
}

async function killGroup(child: ReturnType<Node['spawnFamlab']>): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r))
  try {
    process.kill(-child.pid!, 'SIGKILL')
  } catch {
    // already gone
  }
  await exited
}

describe('fault injection', () => {
  let family: Family
  let alice: Node, bob: Node
  let witness: Witness

  /** Runs a fault `runs` times; after each, the invariants hold and the next backup succeeds. */
  async function survive(fault: string, runs: number, inject: (run: number) => Promise<void>, holdersThatPrune: Node[] = []): Promise<void> {
    let survived = 0
    const failures: string[] = []
    for (let i = 0; i < runs; i++) {
      try {
        await inject(i)
        const afterFault = await witness.check({ allowPrunedOn: holdersThatPrune })
        assert.deepEqual(afterFault, [], 'after the fault')
        const next = await alice.famlab(['backup'], { env: nextNow() })
        assert.equal(next.code, 0, `the next backup: ${next.stderr}`)
        assert.deepEqual(await witness.check({ allowPrunedOn: holdersThatPrune }), [], 'after the next backup')
        survived++
      } catch (err) {
        failures.push(`run ${i}: ${(err as Error).message}`)
      }
    }
    table.push({ fault, runs, survived })
    assert.deepEqual(failures, [])
  }

  before(async () => {
    family = await createFamily(['alice', 'bob'], { config: { retention: { local: '*h', replicas: '*h' } } })
    ;[alice, bob] = family.nodes
    witness = new Witness(family)
    await writeRichTree(join(alice.root, 'local'), 'alice')
    writeManyFiles(join(alice.root, 'local/many'), 200, 8 * 1024)
    const first = await alice.famlab(['backup'], { env: nextNow() })
    assert.equal(first.code, 0, first.stderr)
    alice.writeConfig({ retention: { local: '*h', replicas: '*h' }, replication: { bwlimit_kbps: 3000 } })
  })

  after(async () => {
    await family?.cleanup()
    const width = Math.max(...table.map((r) => r.fault.length), 5)
    process.stdout.write(`\n# ${'fault'.padEnd(width)}  runs  survived\n`)
    for (const r of table) process.stdout.write(`# ${r.fault.padEnd(width)}  ${String(r.runs).padStart(4)}  ${String(r.survived).padStart(8)}\n`)
  })

  it('SIGKILL of backup at random points of the run', async () => {
    await survive('SIGKILL of backup at a random point', KILLS, async () => {
      await writePayload(alice, 6)
      const backup = alice.spawnFamlab(['backup'], { env: nextNow() })
      await sleep(Math.floor(random() * 4000))
      await killGroup(backup)
    })
  })

  it('SIGKILL of the receiving serve and rsync', async () => {
    await survive('SIGKILL of the receiving rsync', 2, async () => {
      await writePayload(alice, 6)
      const backup = alice.spawnFamlab(['backup'], { env: nextNow() })
      const exited = new Promise<number | null>((r) => backup.once('exit', r))
      await untilReceiving(bob, 1 << 20)
      signalAll(sessionProcesses(bob), 'SIGKILL')
      assert.notEqual(await exited, 0)
    })
  })

  it("a peer's sshd stopped mid-transfer", async () => {
    await survive('peer sshd stopped mid-transfer', 2, async () => {
      await writePayload(alice, 6)
      const backup = alice.spawnFamlab(['backup'], { env: nextNow() })
      const exited = new Promise<number | null>((r) => backup.once('exit', r))
      await untilReceiving(bob, 1 << 20)
      const sessions = sessionProcesses(bob)
      await bob.stopSshd()
      signalAll(sessions, 'SIGKILL')
      assert.notEqual(await exited, 0)
      await bob.startSshd()
    })
  })

  // rsync's own --timeout misses a receiver that stops while its connection stays up: once what
  // the sender wrote fits in the socket buffers (always in snapshot mode, where it waits for
  // checksums), its own keep-alives count as I/O. famlab's stall watchdog (lib/watchdog.ts) ends it.
  it('the network cut (a stalled receiver and a tiny timeout)', async () => {
    alice.writeConfig({ retention: { local: '*h', replicas: '*h' }, replication: { bwlimit_kbps: 3000, timeout_s: 5 } })
    await survive('network cut, caught by the timeout', 2, async () => {
      await writePayload(alice, 6)
      const backup = alice.spawnFamlab(['backup'], { env: nextNow() })
      const exited = new Promise<number | null>((r) => backup.once('exit', r))
      await untilReceiving(bob, 1 << 20)
      await stallUntilTimeout(alice, sessionProcesses(bob, 'rsync --server'), exited)
    })
    alice.writeConfig({ retention: { local: '*h', replicas: '*h' }, replication: { bwlimit_kbps: 3000 } })
  })

  it('a stalled receiver in send mode', async () => {
    assert.equal((await bob.famlab(['send-receiver', 'enable'])).code, 0)
    alice.writeConfig({ retention: { local: '*h', replicas: '*h' }, replication: { mode: 'send', bwlimit_kbps: 3000, timeout_s: 5 } })
    await survive('stalled receiver in send mode', 1, async () => {
      await writePayload(alice, 6)
      const backup = alice.spawnFamlab(['backup'], { env: nextNow() })
      const exited = new Promise<number | null>((r) => backup.once('exit', r))
      for (let i = 0; i < 2400 && sessionProcesses(bob, 'btrfs receive').length === 0; i++) await sleep(50)
      await sleep(500)
      // Everything of the receive (serve, sudo, btrfs receive) but the session's sshd: the connection stays up.
      await stallUntilTimeout(alice, sessionProcesses(bob).filter((pid) => !sessionProcesses(bob, 'sshd').includes(pid)), exited)
    })
    alice.writeConfig({ retention: { local: '*h', replicas: '*h' }, replication: { bwlimit_kbps: 3000 } })
  })

  it('the sending snapshot deleted under a run', async () => {
    await survive('sending snapshot deleted mid-transfer', 1, async () => {
      await writePayload(alice, 6)
      const env = nextNow()
      const backup = alice.spawnFamlab(['backup'], { env })
      const exited = new Promise<number | null>((r) => backup.once('exit', r))
      await untilReceiving(bob, 1 << 20)
      const snap = env.FAMLAB_NOW.replace(/:/g, '').replace('.000', '')
      await runChecked(['btrfs', '-q', 'subvolume', 'delete', join(alice.root, 'snapshots', snap)])
      assert.notEqual(await exited, 0)
      assert.ok(!existsSync(join(bob.root, 'replicas/alice', snap)))
    })
  })

  it('peers.yaml and history.jsonl truncated mid-line', async () => {
    await survive('state files truncated mid-line', 1, async () => {
      for (const name of ['peers.yaml', 'history.jsonl']) {
        const file = join(alice.state, name)
        truncateSync(file, Math.floor(statSync(file).size * 0.6))
      }
      const file = join(bob.state, 'peers.yaml')
      truncateSync(file, Math.floor(statSync(file).size / 2))
    })
    const lines = readFileSync(join(alice.state, 'history.jsonl'), 'utf8').trim().split('\n')
    assert.doesNotThrow(() => JSON.parse(lines.at(-1)!))
  })

  it('two backups racing', async () => {
    await survive('two backups racing', 2, async () => {
      await writePayload(alice, 3)
      const [one, two] = await Promise.all([alice.famlab(['backup'], { env: nextNow() }), alice.famlab(['backup'], { env: nextNow() })])
      assert.deepEqual([one.code, two.code].sort(), [0, 75])
    })
  })

  it('prune on the holder racing replicate', async () => {
    bob.writeConfig({ retention: { local: '1h', replicas: '2h' } })
    await survive('prune racing replicate', 3, async () => {
      await writePayload(alice, 4)
      const backup = alice.famlab(['backup'], { env: nextNow() })
      await untilReceiving(bob)
      for (let i = 0; i < 3; i++) assert.equal((await bob.famlab(['prune'], { env: nextNow() })).code, 0)
      assert.equal((await backup).code, 0)
    }, [bob])
    const newest = readdirSync(join(alice.root, 'snapshots')).sort().at(-1)!
    assert.ok(existsSync(join(bob.root, 'replicas/alice', newest)), 'the newest replica stays')
    bob.writeConfig({ retention: { local: '*h', replicas: '*h' } })
  })

  it('the clock jumping back', async () => {
    await survive('clock earlier than the newest snapshot', 1, async () => {
      const snapshots = readdirSync(join(alice.root, 'snapshots')).sort()
      const earlier = { FAMLAB_NOW: '2026-11-22T00:00:00Z' }
      const backup = await alice.famlab(['backup'], { env: earlier })
      assert.equal(backup.code, 1)
      assert.match(backup.stderr, /not after the newest snapshot/)
      alice.writeConfig({ retention: { local: '1h', replicas: '1h' }, replication: { bwlimit_kbps: 3000 } })
      assert.equal((await alice.famlab(['prune'], { env: earlier })).code, 0)
      alice.writeConfig({ retention: { local: '*h', replicas: '*h' }, replication: { bwlimit_kbps: 3000 } })
      assert.deepEqual(readdirSync(join(alice.root, 'snapshots')).sort(), snapshots)
    })
  })
})

describe('fault injection: a receiving disk that fills up', () => {
  let family: Family

  after(() => family?.cleanup())

  it('leaves no complete replica and recovers once the data fits', async () => {
    family = await createFamily(['alice', 'tiny'], { imageSizes: { tiny: '400M' } })
    const [alice, tiny] = family.nodes
    const witness = new Witness(family)
    await writeRichTree(join(alice.root, 'local'), 'alice')
    assert.equal((await alice.famlab(['backup'], { env: nextNow() })).code, 0)
    // The data fits when the transfer starts (famlab checks for room first); then the disk fills.
    await writePayload(alice, 120)
    alice.writeConfig({ replication: { bwlimit_kbps: 10000 } })
    const backup = alice.famlab(['backup'], { env: nextNow() })
    await untilReceiving(tiny, 1 << 20)
    const filler = join(tiny.root, 'filler.bin')
    await run(['dd', 'if=/dev/zero', `of=${filler}`, 'bs=1M', 'status=none'])
    const full = await backup
    assert.equal(full.code, 1, full.stderr)
    assert.deepEqual(await witness.check(), [])
    await runChecked(['rm', filler])
    // btrfs counts the space as free only once the deletion is committed.
    await runChecked(['btrfs', 'filesystem', 'sync', tiny.root])
    const next = await alice.famlab(['backup'], { env: nextNow() })
    assert.equal(next.code, 0, next.stderr)
    assert.deepEqual(await witness.check(), [])
    assert.equal(readdirSync(join(tiny.root, 'replicas/alice')).filter((n) => !n.startsWith('.')).length, 2)
    table.push({ fault: 'receiving disk full mid-transfer', runs: 1, survived: 1 })
  })
})

describe('fault injection: malformed configs', () => {
  let family: Family

  after(() => family?.cleanup())

  it('20 generated malformed configs exit 2 with one line and change nothing', async () => {
    family = await createFamily(['solo'], { enroll: false })
    const node = family.nodes[0]
    const good = readFileSync(node.config, 'utf8')
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]']
    for (const n of 'bcdefgh') bomb.push(`${n}: &${n} [${Array(10).fill(`*${String.fromCharCode(n.charCodeAt(0) - 1)}`).join(', ')}]`)
    const malformed: [string, string][] = [
      ['node is a number', good.replace(/^node: .*$/m, 'node: 42')],
      ['root is a list', good.replace(/^root: .*$/m, 'root: [a, b]')],
      ['port is text', `${good}\nreplication: {timeout_s: "ten"}`],
      ['fraction is text', `${good}\ncapacity: {local_fraction: half}`],
      ['mode unknown', `${good}\nreplication: {mode: turbo}`],
      ['bwlimit negative', `${good}\nreplication: {bwlimit_kbps: -5}`],
      ['alerts a string', `${good}\nalerts: loud`],
      ['unknown top key', `${good}\nbackup_everything: true`],
      ['unknown nested key', `${good}\ntimemachine: {quiet: 5}`],
      ['typo in section', `${good}\nretension: {local: 1d}`],
      ['retention without unit', `${good}\nretention: {local: "48"}`],
      ['retention unknown unit', `${good}\nretention: {replicas: "14q"}`],
      ['retention zero', `${good}\nretention: {replicas: "0y"}`],
      ['retention a number', `${good}\nretention: {local: 5}`],
      ['node missing', good.replace(/^node: .*$/m, '')],
      ['root missing', good.replace(/^root: .*$/m, '')],
      ['empty file', ''],
      ['not YAML', 'node: [unclosed\n  root: {'],
      ['binary garbage', '\u0000\u0001\u0002famlab\u00ff'],
      ['YAML alias bomb', `${good}\n${bomb.join('\n')}\n`],
    ]
    const fingerprint = async () => (await runChecked(['bash', '-c', `find "$1" "$2" -printf '%p %s %T@\\n' | sort | sha256sum`, 'fp', node.root, node.state])).trim()
    const before = await fingerprint()
    let survived = 0
    for (const [what, text] of malformed) {
      writeFileSync(node.config, text)
      const result = await node.famlab(['backup'], { env: nextNow() })
      assert.equal(result.code, 2, `${what}: ${result.stderr}`)
      assert.equal(result.stderr.trim().split('\n').length, 1, `${what}: ${result.stderr}`)
      assert.ok(result.stderr.startsWith(`famlab: ${node.config}: `), `${what}: ${result.stderr}`)
      survived++
    }
    writeFileSync(node.config, good)
    const missingFile = await node.famlab(['backup', '--config', join(node.dir, 'nowhere.yaml')])
    assert.equal(missingFile.code, 2)
    assert.equal(await fingerprint(), before)
    table.push({ fault: 'malformed configs', runs: malformed.length, survived })
  })
})
