// sources: a btrfs subvolume and a plain directory backed up beside local/, each under its own
// name in the snapshot and on the peer, and brought back from the peer by name.
import assert from 'node:assert/strict'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { run, runChecked } from '../../lib/exec.ts'
import { createFamily, type Family, type Node } from '../harness/family.ts'
import { treeDifferences, writeRichTree } from '../harness/tree.ts'

const at = (hours: number) => new Date(Date.UTC(2026, 10, 23, 10) + hours * 3600_000).toISOString().replace('.000', '')
const snapAt = (hours: number) => at(hours).replace(/:/g, '')
const history = (node: Node) => readFileSync(join(node.state, 'history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
const fingerprint = (dir: string): string =>
  readdirSync(dir, { recursive: true, withFileTypes: true }).map((e) => `${e.parentPath}/${e.name}`).sort().join('\n')

describe('sources beside local/', () => {
  let family: Family
  let alice: Node, bob: Node
  let home: string, photos: string

  before(async () => {
    family = await createFamily(['alice', 'bob'])
    ;[alice, bob] = family.nodes
    // A subvolume on alice's btrfs, mounted outside root as /home would be on a real box.
    await runChecked(['btrfs', '-q', 'subvolume', 'create', join(alice.root, 'home-subvolume')])
    home = join(alice.dir, 'home')
    mkdirSync(home)
    await runChecked(['mount', '--bind', join(alice.root, 'home-subvolume'), home])
    await writeRichTree(home, 'home')
    photos = join(family.base, 'photos')
    await writeRichTree(photos, 'photos')
    alice.writeConfig({ sources: [home, { name: 'pictures', path: photos }] })
  })
  after(async () => {
    if (home) await run(['umount', home])
    await family?.cleanup()
  })

  it('refuses a bad source path with exit 2 naming the entry, and changes nothing', async () => {
    const cases: [unknown[], RegExp][] = [
      [[home, join(family.base, 'missing')], /sources entry 2 \(missing: \S+\/missing\) does not exist/],
      [['relative/dir'], /sources entry 1 \("relative\/dir"\) needs an absolute path/],
      [[join(alice.root, 'local')], /sources entry 1 \(local: \S+\) overlaps the storage root/],
      [[photos, join(photos, 'docs')], /sources entry 2 \(docs: \S+\) overlaps sources entry 1/],
      [[join(photos, 'docs/letter.txt')], /is not a directory/],
    ]
    const before = fingerprint(alice.state) + fingerprint(alice.root)
    for (const [sources, expected] of cases) {
      alice.writeConfig({ sources })
      for (const command of sources.length === 2 ? ['backup', 'snapshot'] : ['backup']) {
        const result = await alice.famlab([command], { env: { FAMLAB_NOW: at(0) } })
        assert.equal(result.code, 2, `${JSON.stringify(sources)} / ${command}: ${result.stderr}`)
        assert.match(result.stderr, expected)
        assert.ok(result.stderr.startsWith(`famlab: ${alice.config}: sources entry`), result.stderr)
        assert.equal(result.stderr.trim().split('\n').length, 1)
      }
    }
    assert.equal(fingerprint(alice.state) + fingerprint(alice.root), before)
    alice.writeConfig({ sources: [home, { name: 'pictures', path: photos }] })
  })

  it('puts each source under its own name in the snapshot, read-only, and on the peer', async () => {
    writeFileSync(join(alice.root, 'local/household.txt'), 'local data\n')
    const backup = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(0) } })
    assert.equal(backup.code, 0, backup.stderr)
    const snapshot = join(alice.root, 'snapshots', snapAt(0))
    assert.deepEqual(readdirSync(join(snapshot, 'sources')).sort(), ['home', 'pictures'])
    assert.equal(readFileSync(join(snapshot, 'household.txt'), 'utf8'), 'local data\n')
    for (const dir of [snapshot, join(snapshot, 'sources/home'), join(snapshot, 'sources/pictures')]) {
      assert.match((await runChecked(['btrfs', 'property', 'get', '-ts', dir, 'ro'])), /ro=true/, dir)
    }
    const steps = history(alice).filter((e) => e.step === 'source' && e.snapshot === snapAt(0))
    assert.deepEqual(steps.map((e) => [e.result, e.message.split(' ')[0]]), [['ok', 'home'], ['ok', 'pictures']])
    assert.match(steps[0].message, /btrfs snapshot/)
    assert.match(steps[1].message, /synced from the live tree/)
    assert.deepEqual(readdirSync(join(bob.root, 'replicas/alice', snapAt(0), 'sources')).sort(), ['home', 'pictures'])
  })

  it('famlab restore brings each source back from the peer by name, identical to what it was', async () => {
    for (const [name, original] of [['home', home], ['pictures', photos]]) {
      const target = join(family.base, `restored-${name}`)
      const restored = await alice.famlab(['restore', '--from', 'bob', '--snapshot', snapAt(0), '--path', `sources/${name}`, '--to', target])
      assert.equal(restored.code, 0, restored.stderr)
      assert.deepEqual(await treeDifferences(original, join(target, 'sources', name)), [], name)
    }
  })

  it('a later change lands in the next snapshot only, and prune removes snapshots with sources', async () => {
    writeFileSync(join(photos, 'new.jpg'), 'new photo\n')
    writeFileSync(join(home, 'docs/letter.txt'), 'changed\n')
    const backup = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(1) } })
    assert.equal(backup.code, 0, backup.stderr + JSON.stringify(history(bob).slice(-3)))
    const snapshots = join(alice.root, 'snapshots')
    assert.equal(readFileSync(join(snapshots, snapAt(1), 'sources/pictures/new.jpg'), 'utf8'), 'new photo\n')
    assert.equal(readFileSync(join(snapshots, snapAt(1), 'sources/home/docs/letter.txt'), 'utf8'), 'changed\n')
    assert.deepEqual(readdirSync(join(snapshots, snapAt(0), 'sources/pictures')).includes('new.jpg'), false)
    assert.match(readFileSync(join(snapshots, snapAt(0), 'sources/home/docs/letter.txt'), 'utf8'), /Dear family/)

    // Keeping one hour-bucket, the older snapshot goes, nested subvolumes and all.
    alice.writeConfig({ sources: [home, { name: 'pictures', path: photos }], retention: { local: '1h' } })
    const pruned = await alice.famlab(['prune'], { env: { FAMLAB_NOW: at(2) } })
    assert.equal(pruned.code, 0, pruned.stderr)
    assert.deepEqual(readdirSync(snapshots), [snapAt(1)])
    const subvolumes = await runChecked(['btrfs', 'subvolume', 'list', alice.root])
    assert.doesNotMatch(subvolumes, new RegExp(snapAt(0)))
  })
})
