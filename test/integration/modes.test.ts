// Snapshot mode on a real btrfs holder: read-only subvolume replicas sharing unchanged data,
// hard links that change at the source, storage efficiency, a full disk, and coexistence with
// link-dest replicas. (The core suite also runs in each mode: FAMLAB_TEST_MODES.)
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, rmSync, statSync, statfsSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { run, runChecked } from '../../lib/exec.ts'
import { createFamily, type Family, type Node } from '../harness/family.ts'
import { inMode } from '../harness/modes.ts'
import { writeRichTree } from '../harness/tree.ts'
import { Witness } from '../harness/witness.ts'

const at = (hours: number) => new Date(Date.UTC(2026, 10, 23, 10) + hours * 3600_000).toISOString().replace('.000', '')
const snapAt = (hours: number) => at(hours).replace(/:/g, '')
const MiB = 1 << 20

describe('snapshot mode on a btrfs holder', () => {
  let family: Family
  let witness: Witness
  let alice: Node, bob: Node
  const replica = (snap: string) => join(bob.root, 'replicas/alice', snap)
  const replicas = () => readdirSync(join(bob.root, 'replicas/alice')).sort()
  const backup = async (hours: number) => {
    const result = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(hours) } })
    return { ...result, sent: lastSent(alice) }
  }
  const isReadonly = async (path: string) => (await runChecked(['btrfs', 'property', 'get', '-ts', path, 'ro'])).trim() === 'ro=true'
  const dataUsed = async (node: Node) => {
    await runChecked(['btrfs', 'filesystem', 'sync', node.root])
    const df = await runChecked(['btrfs', 'filesystem', 'df', '-b', node.root])
    return Number(/^Data, \w+: total=\d+, used=(\d+)/m.exec(df)![1])
  }
  const assertWitnessed = async (options = {}) => assert.deepEqual(await witness.check(options), [])

  before(async () => {
    family = await createFamily(['alice', 'bob'], { config: inMode('snapshot') })
    ;[alice, bob] = family.nodes
    witness = new Witness(family)
  })
  after(() => family?.cleanup())

  it('stores each replica as a read-only subvolume of ssh.user, the first one fresh', async () => {
    await writeRichTree(join(alice.root, 'local'), 'alice')
    writeFileSync(join(alice.root, 'local/linked-a'), 'shared content\n')
    await runChecked(['ln', join(alice.root, 'local/linked-a'), join(alice.root, 'local/linked-b')])
    const first = await backup(0)
    assert.equal(first.code, 0, first.stderr)
    assert.match(first.stderr, /in snapshot mode/)
    assert.deepEqual(replicas(), [snapAt(0)])
    assert.equal(statSync(replica(snapAt(0))).ino, 256, 'a subvolume')
    assert.ok(await isReadonly(replica(snapAt(0))))
    assert.equal((await runChecked(['stat', '-c', '%U', replica(snapAt(0))])).trim(), bob.user)
    await assertWitnessed()
  })

  it('a file whose hard link broke at the source is rewritten without touching its old sibling', async () => {
    // rsync -H --inplace would write the new linked-b through the old shared inode into linked-a.
    unlinkSync(join(alice.root, 'local/linked-b'))
    writeFileSync(join(alice.root, 'local/linked-b'), 'SHARED CONTENT\n')
    await runChecked(['chmod', '640', join(alice.root, 'local/docs/photo.jpg')])
    const second = await backup(1)
    assert.equal(second.code, 0, second.stderr)
    assert.ok(await isReadonly(replica(snapAt(1))))
    await assertWitnessed()
  })

  it('rewriting 1 MiB inside a 64 MiB file grows the holder by about 1 MiB per snapshot', async () => {
    const band = join(alice.root, 'local/band.bin')
    await runChecked(['dd', 'if=/dev/urandom', `of=${band}`, 'bs=1M', 'count=64', 'status=none'])
    assert.equal((await backup(2)).code, 0)
    for (const [hours, offset] of [[3, 10], [4, 40]]) {
      const before = await dataUsed(bob)
      await runChecked(['dd', 'if=/dev/urandom', `of=${band}`, 'bs=1M', 'count=1', `seek=${offset}`, 'conv=notrunc', 'status=none'])
      const result = await backup(hours)
      assert.equal(result.code, 0, result.stderr)
      const grown = (await dataUsed(bob)) - before
      assert.ok(grown < 3 * MiB, `the holder grew by ${grown} bytes for 1 MiB rewritten`)
      assert.ok(result.sent! > MiB && result.sent! < 2 * MiB, `sent ${result.sent} bytes`)
    }
    await assertWitnessed()
  })

  it('a disk that fills up mid-transfer leaves no complete-named replica; with room again the next run completes', async () => {
    // The sender skips a snapshot that would not fit (lib/space.ts), so the disk fills only once rsync runs.
    await runChecked(['dd', 'if=/dev/urandom', `of=${join(alice.root, 'local/too-big.bin')}`, 'bs=1M', 'count=48', 'status=none'])
    alice.writeConfig(inMode('snapshot', { replication: { bwlimit_kbps: 4000 } }))
    const filler = join(bob.root, 'filler')
    const running = alice.spawnFamlab(['backup'], { env: { FAMLAB_NOW: at(5) } })
    const exited = new Promise<number>((r) => running.once('exit', (code) => r(code ?? -1)))
    try {
      const arriving = join(bob.root, 'replicas/alice/.incomplete/too-big.bin')
      for (let i = 0; i < 600 && !(existsSync(arriving) && statSync(arriving).size > 4 * MiB); i++) await new Promise((r) => setTimeout(r, 100))
      const { bavail, bsize } = statfsSync(bob.root)
      await runChecked(['fallocate', '-l', String(bavail * bsize - 4 * MiB), filler])
      assert.equal(await exited, 1)
      assert.ok(!replicas().includes(snapAt(5)))
      assert.ok(replicas().every((name) => name === '.incomplete' || existsSync(join(alice.root, 'snapshots', name))))
      await assertWitnessed()
    } finally {
      rmSync(filler, { force: true })
      await runChecked(['btrfs', 'filesystem', 'sync', bob.root])
      alice.writeConfig(inMode('snapshot'))
    }
    const next = await backup(6)
    assert.equal(next.code, 0, next.stderr)
    assert.ok(replicas().includes(snapAt(6)) && !replicas().includes('.incomplete'))
    await assertWitnessed()
  })

  it('link-dest and snapshot replicas coexist; switching needs no migration and no resend', async () => {
    alice.writeConfig(inMode('link-dest'))
    writeFileSync(join(alice.root, 'local/switch.txt'), 'link-dest now\n')
    assert.equal((await backup(7)).code, 0)
    assert.notEqual(statSync(replica(snapAt(7))).ino, 256, 'a plain directory')

    alice.writeConfig(inMode('snapshot'))
    writeFileSync(join(alice.root, 'local/switch.txt'), 'snapshot again\n')
    const back = await backup(8)
    assert.equal(back.code, 0, back.stderr)
    assert.equal(statSync(replica(snapAt(8))).ino, 256)
    assert.ok(back.sent! < MiB, `seeded from the link-dest replica, sent only ${back.sent} bytes`)

    alice.writeConfig(inMode('link-dest'))
    writeFileSync(join(alice.root, 'local/switch.txt'), 'and link-dest again\n')
    assert.equal((await backup(9)).code, 0)
    alice.writeConfig(inMode('snapshot'))
    await assertWitnessed()
  })

  it("the holder's prune deletes replicas of both kinds", async () => {
    bob.writeConfig(inMode('snapshot', { retention: { replicas: '1h' } }))
    const pruned = await bob.famlab(['prune'], { env: { FAMLAB_NOW: at(9) } })
    assert.equal(pruned.code, 0, pruned.stderr)
    assert.deepEqual(replicas(), [snapAt(9)])
    const subvolumes = await runChecked(['btrfs', 'subvolume', 'list', '-o', join(bob.root, 'replicas/alice')])
    assert.equal(subvolumes.trim(), '')
    await assertWitnessed({ allowPrunedOn: [bob] })
  })

  it('serve refuses in-place writes anywhere but into .incomplete', async () => {
    const ssh = ['ssh', '-F', join(alice.state, 'ssh_config'), 'famlab-bob']
    const attempts = [
      ['rsync', '--server', '-logDtpre.iLsfxCIvu', '--inplace', '.', `${snapAt(9)}/`],
      ['rsync', '--server', '-logDtpre.iLsfxCIvu', '--inplace', '.', '.resume/'],
      ['rsync', '--server', '-logDtpre.iLsfxCIvu', '--inplace', '.', '../bob/.incomplete/'],
    ]
    for (const words of attempts) {
      const result = await run([...ssh, ...words], { input: '' })
      assert.notEqual(result.code, 0, `"${words.join(' ')}" was allowed`)
      assert.match(result.stderr, /famlab serve: refused alice: /)
    }
    await assertWitnessed({ allowPrunedOn: [bob] })
  })
})

/** Bytes alice's last replicate step sent, from its history. */
function lastSent(node: Node): number | undefined {
  const file = join(node.state, 'history.jsonl')
  if (!existsSync(file)) return undefined
  const entries = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
  return entries.findLast((e) => e.step === 'replicate')?.bytes
}
