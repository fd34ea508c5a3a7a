// Snapshot mode on a real btrfs holder: read-only subvolume replicas sharing unchanged data,
// hard links that change at the source, storage efficiency, serve's refusals.
// (The core suite runs in each mode of FAMLAB_TEST_MODES.)
import assert from 'node:assert/strict'
import { existsSync, readdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { run, runChecked } from '../../lib/exec.ts'
import { createFamily, lastReplicate, lastSent, type Family, type Node } from '../harness/family.ts'
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

  it('link-dest and snapshot replicas live side by side: switching modes needs no migration', async () => {
    writeFileSync(join(alice.root, 'local/switch.txt'), 'one\n')
    alice.writeConfig(inMode('link-dest'))
    const linked = await backup(5)
    assert.equal(linked.code, 0, linked.stderr)
    assert.match(linked.stderr, /in link-dest mode/)
    assert.notEqual(statSync(replica(snapAt(5))).ino, 256, 'a plain directory')
    writeFileSync(join(alice.root, 'local/switch.txt'), 'two\n')
    alice.writeConfig({})
    const snapshotted = await backup(6)
    assert.equal(snapshotted.code, 0, snapshotted.stderr)
    assert.match(snapshotted.stderr, /in snapshot mode/)
    assert.equal(statSync(replica(snapAt(6))).ino, 256, 'a subvolume again')
    await assertWitnessed()
  })

  it('after the first replica only the paths that changed are compared, and every kind of change arrives', async () => {
    const sh = (script: string) => runChecked(['sh', '-c', script], { cwd: join(alice.root, 'local') })
    const listedBackup = async (hours: number) => {
      const result = await backup(hours)
      assert.equal(result.code, 0, result.stderr)
      const message = lastReplicate(alice)?.message ?? ''
      const changed = /(\d+) paths changed since/.exec(message)
      assert.ok(changed && Number(changed[1]) < 60, `not a short list: ${message}\n${result.stderr}`)
      await assertWitnessed()
    }
    // Names gone deep inside directories that stay (only the top level is swept by --delete)
    await sh('echo more >> docs/letter.txt && rm docs/deep/er/notes.md && rm -r docs/deep/empty && echo kept > docs/deep/er/kept')
    await sh('mkdir -p brand/new/tree && echo n > brand/new/tree/n && rm switch.txt && mkdir switch.txt && echo in > switch.txt/in')
    await sh('rm -r empty && echo was-a-dir > empty && ln -sfn other/target letter-link && chmod 604 private.key')
    await sh('setfattr -n user.added -v yes sparse.img')
    writeFileSync(Buffer.concat([Buffer.from(`${join(alice.root, 'local')}/`), Buffer.from([0xff, 0xfe])]), 'not utf-8\n')
    await listedBackup(7)
    // A directory moved with everything in it arrives as one rename in btrfs's list
    await sh('mv docs/deep docs/deep-moved && mv brand/new brand/renamed && echo deeper > brand/renamed/tree/m && setfattr -x user.added sparse.img')
    await listedBackup(8)
  })

  it('a change to a hard-linked file has every file compared, so that its links hold', async () => {
    // Both names of a hard-linked file change (btrfs names one of them); a new link to an unchanged file.
    await runChecked(['sh', '-c', 'echo appended >> photo-hardlink.jpg && ln band.bin band-link.bin'], { cwd: join(alice.root, 'local') })
    const result = await backup(9)
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stderr, /a hard-linked file changed since .*: comparing every file/)
    assert.doesNotMatch(lastReplicate(alice)?.message ?? '', /paths changed since/)
    await assertWitnessed()
  })

  it('a holder that copied another replica than the one the sender listed from gets every file compared', async () => {
    // serve copies the newest replica it owns; one it does not (as send mode's are root's) is passed over.
    writeFileSync(join(alice.root, 'local/late.txt'), 'late\n')
    const newest = replica(snapAt(9))
    await runChecked(['sh', '-c', `btrfs property set -ts ${newest} ro false && chown root ${newest} && btrfs property set -ts ${newest} ro true`])
    try {
      const result = await backup(10)
      assert.equal(result.code, 0, result.stderr)
      assert.match(result.stderr, /did not start from .*comparing every file/)
      assert.doesNotMatch(lastReplicate(alice)?.message ?? '', /paths changed since/)
      assert.equal(existsSync(join(bob.root, 'replicas/alice/.incomplete-basis')), false)
    } finally {
      await runChecked(['sh', '-c', `btrfs property set -ts ${newest} ro false && chown ${bob.user} ${newest} && btrfs property set -ts ${newest} ro true`])
    }
    await assertWitnessed()
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
