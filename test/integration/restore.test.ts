// Getting data back on the real harness: restore, the recovery guard, verify and repair.
import assert from 'node:assert/strict'
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { run, runChecked } from '../../lib/exec.ts'
import { createFamily, type Family, type Node } from '../harness/family.ts'
import { treeDifferences, writeManyFiles, writeRichTree } from '../harness/tree.ts'

const at = (hours: number) => new Date(Date.UTC(2026, 10, 23, 10) + hours * 3600_000).toISOString().replace('.000', '')
const snapAt = (hours: number) => at(hours).replace(/:/g, '')
const replicasOn = (holder: Node, origin: string) =>
  existsSync(join(holder.root, 'replicas', origin)) ? readdirSync(join(holder.root, 'replicas', origin)).filter((n) => !n.startsWith('.')).sort() : []
const status = (node: Node) => JSON.parse(readFileSync(join(node.state, 'status.json'), 'utf8'))
/** Drops a holder's replica-use measurement once none is running: a `status` request makes it again. */
const forgetSpace = async (holder: Node) => {
  await runChecked(['bash', '-c', `for i in $(seq 300); do [ -e ${join(holder.state, 'space.measuring')} ] || exit 0; sleep 0.1; done; exit 1`])
  rmSync(join(holder.state, 'space.json'), { force: true })
}

describe('getting data back', () => {
  let family: Family
  let alice: Node, bob: Node, carol: Node

  before(async () => {
    family = await createFamily(['alice', 'bob', 'carol'])
    ;[alice, bob, carol] = family.nodes
    await writeRichTree(join(alice.root, 'local'), 'alice')
    const first = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(0) } })
    assert.equal(first.code, 0, first.stderr)
    writeManyFiles(join(alice.root, 'local/filehistory/bob'), 40, 4096)
    mkdirSync(join(alice.root, 'local/timemachine/alice/Mac.sparsebundle/bands'), { recursive: true })
    writeManyFiles(join(alice.root, 'local/timemachine/alice/Mac.sparsebundle/bands'), 8, 64 * 1024)
    assert.equal((await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(1) } })).code, 0)
    await writeRichTree(join(carol.root, 'local'), 'carol')
    assert.equal((await carol.famlab(['backup'], { env: { FAMLAB_NOW: at(1) } })).code, 0)
  })
  after(() => family?.cleanup())

  it('lists the snapshots each peer holds, with dates and sizes', async () => {
    const listed = await alice.famlab(['restore', '--list'])
    assert.equal(listed.code, 0, listed.stderr)
    assert.match(listed.stdout, /^bob holds 2 snapshots of alice$/m)
    assert.match(listed.stdout, /^carol holds 2 snapshots of alice$/m)
    assert.match(listed.stdout, new RegExp(`^  ${snapAt(1)}  2026-11-23 11:00 UTC .*MiB  \\d+ files$`, 'm'))
    const json = JSON.parse((await alice.famlab(['restore', '--list', '--from', 'bob', '--json'])).stdout)
    assert.deepEqual(json.peers.bob.map((r: { name: string }) => r.name), [snapAt(0), snapAt(1)])
    assert.ok(json.peers.bob[1].files > json.peers.bob[0].files)
    assert.ok(json.peers.bob[1].bytes > 20 << 20, 'the sparse file counts with its apparent size')
  })

  it('restores the newest snapshot byte-identical: owners, modes, ACLs, xattrs, links, sparse files, odd names', async () => {
    const target = join(family.base, 'restored-full')
    const restored = await alice.famlab(['restore', '--from', 'bob', '--to', target])
    assert.equal(restored.code, 0, restored.stderr)
    assert.deepEqual(await treeDifferences(join(alice.root, 'snapshots', snapAt(1)), target), [])
    assert.ok(statSync(join(target, 'sparse.img')).blocks * 512 < 1 << 20, 'the sparse file stays sparse')
    assert.equal(statSync(join(target, 'photo-hardlink.jpg')).ino, statSync(join(target, 'docs/photo.jpg')).ino)

    const again = await alice.famlab(['restore', '--from', 'bob', '--to', target])
    assert.equal(again.code, 2, again.stderr)
    assert.match(again.stderr, /already holds files.*--force/)
    assert.equal((await alice.famlab(['restore', '--from', 'bob', '--to', target, '--force'])).code, 0)
  })

  it('restores one folder or one oddly named file from an older snapshot', async () => {
    const target = join(family.base, 'restored-path')
    const folder = await alice.famlab(['restore', '--from', 'carol', '--snapshot', snapAt(1), '--path', 'timemachine/alice/Mac.sparsebundle/', '--to', target])
    assert.equal(folder.code, 0, folder.stderr)
    assert.deepEqual(readdirSync(target), ['timemachine'])
    assert.deepEqual(await treeDifferences(join(alice.root, 'snapshots', snapAt(1), 'timemachine/alice/Mac.sparsebundle'), join(target, 'timemachine/alice/Mac.sparsebundle')), [])

    const odd = join(family.base, 'restored-odd')
    const file = await alice.famlab(['restore', '--from', 'carol', '--snapshot', snapAt(0), '--path', 'café ünïcode.txt', '--to', odd])
    assert.equal(file.code, 0, file.stderr)
    assert.deepEqual(readdirSync(odd), ['café ünïcode.txt'])

    const missing = await alice.famlab(['restore', '--from', 'carol', '--path', 'no/such/thing', '--to', join(family.base, 'restored-missing')])
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /has no "no\/such\/thing"/)
    for (const bad of [['--path', '../carol'], ['--path', '/etc'], ['--snapshot', 'yesterday'], ['--from', 'mallory']]) {
      const refused = await alice.famlab(['restore', '--from', 'carol', '--to', join(family.base, 'never'), ...bad])
      assert.equal(refused.code, 2, `${bad.join(' ')}: ${refused.stderr}`)
    }
    assert.ok(!existsSync(join(family.base, 'never')))
  })

  it("reads another node's replicas only with that node's own key", async () => {
    const target = join(family.base, 'restored-carol')
    const refused = await alice.famlab(['restore', '--from', 'bob', '--origin', 'carol', '--to', target])
    assert.equal(refused.code, 2)
    assert.match(refused.stderr, /needs carol's own key/)
    const key = join(family.base, 'carol-key')
    copyFileSync(join(carol.state, 'id_ed25519'), key)
    const restored = await alice.famlab(['restore', '--from', 'bob', '--origin', 'carol', '--identity', key, '--to', target])
    assert.equal(restored.code, 0, restored.stderr)
    assert.deepEqual(await treeDifferences(join(carol.root, 'snapshots', snapAt(1)), target), [])
  })

  it('resumes an interrupted restore without --force', async () => {
    await runChecked(['dd', 'if=/dev/urandom', `of=${join(alice.root, 'local/zzz-big.bin')}`, 'bs=1M', 'count=16', 'status=none'])
    await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(2) } })
    assert.ok(replicasOn(bob, 'alice').includes(snapAt(2)))
    alice.writeConfig({ replication: { bwlimit_kbps: 3000 } })
    const target = join(family.base, 'restored-resumed')
    const restoring = alice.spawnFamlab(['restore', '--from', 'bob', '--to', target])
    let exited = false
    const exit = new Promise((r) => restoring.once('exit', () => r((exited = true))))
    // The big file sorts last among the top-level files (rsync sends those before any folder).
    while (!exited) {
      const temp = existsSync(target) ? readdirSync(target).find((f) => f.startsWith('.zzz-big.bin.')) : undefined
      if (temp && statSync(join(target, temp)).size > 1 << 20) break
      await new Promise((r) => setTimeout(r, 50))
    }
    assert.ok(!exited, 'the restore finished before it could be interrupted')
    // zx starts rsync in a process group of its own: a power cut takes both.
    const receivers = (await runChecked(['ps', '-eo', 'pid=,args='])).split('\n').filter((l) => l.includes(target) && l.includes('rsync'))
    process.kill(-restoring.pid!, 'SIGKILL')
    for (const line of receivers) {
      try {
        process.kill(Number(line.trim().split(/\s+/)[0]), 'SIGKILL')
      } catch {
        // already gone with its group
      }
    }
    await exit
    alice.writeConfig({})
    assert.ok(existsSync(join(target, 'private.key')) && !existsSync(join(target, 'zzz-big.bin')), 'killed midway')
    const resumed = await alice.famlab(['restore', '--from', 'bob', '--to', target])
    assert.equal(resumed.code, 0, resumed.stderr)
    assert.match(resumed.stderr, /resuming/)
    assert.deepEqual(await treeDifferences(join(alice.root, 'snapshots', snapAt(2)), target), [])
  })

  it('verify finds bit rot and a damaged metadata xattr in a replica; --repair fixes them in a new snapshot', async () => {
    await forgetSpace(bob)
    const clean = await alice.famlab(['verify'])
    assert.equal(clean.code, 0, clean.stderr)
    assert.equal(status(alice).verify.result, 'ok')
    assert.ok(!existsSync(join(bob.state, 'space.json')), 'verify asks which replicas bob has, not its status, which measures them')

    // Flip bytes in place (same size and mtime: only a checksum sees it), and the stored mode
    const replica = join(bob.root, 'replicas/alice', snapAt(2))
    const photo = join(replica, 'docs/photo.jpg')
    const mtime = statSync(photo).mtime
    // Rot ignores btrfs's read-only flag (replicas are read-only subvolumes in snapshot mode)
    const readonly = (await run(['btrfs', 'property', 'get', '-ts', replica, 'ro'])).stdout.trim() === 'ro=true'
    if (readonly) await runChecked(['btrfs', 'property', 'set', '-ts', replica, 'ro', 'false'])
    await runChecked(['dd', 'if=/dev/urandom', `of=${photo}`, 'bs=1', 'count=16', 'seek=1000', 'conv=notrunc', 'status=none'])
    await runChecked(['touch', '-d', mtime.toISOString(), photo])
    const key = join(replica, 'private.key')
    const stored = (await runChecked(['getfattr', '--only-values', '-n', 'user.rsync.%stat', key])).trim()
    await runChecked(['setfattr', '-n', 'user.rsync.%stat', '-v', stored.replace(/^100600 /, '100644 '), key])
    if (readonly) await runChecked(['btrfs', 'property', 'set', '-ts', replica, 'ro', 'true'])
    const damagedBefore = readFileSync(photo)

    for (const args of [['verify'], ['verify', '--peer', 'bob', '--sample', '100']]) {
      const found = await alice.famlab(args)
      assert.equal(found.code, 1, found.stderr)
      // rsync names one of the two hard links to the damaged inode
      assert.match(found.stdout, new RegExp(`^bob ${snapAt(2)} contents: (docs/photo|photo-hardlink)\\.jpg$`, 'm'))
      assert.match(found.stdout, new RegExp(`^bob ${snapAt(2)} permissions: private.key$`, 'm'))
      assert.doesNotMatch(found.stdout, /^carol /m)
    }
    assert.equal(status(alice).verify.result, 'failed')
    assert.equal((await alice.famlab(['verify', '--peer', 'carol'])).code, 0)

    const repaired = await alice.famlab(['verify', '--peer', 'bob', '--repair'], { env: { FAMLAB_NOW: at(3) } })
    assert.equal(repaired.code, 0, repaired.stderr)
    assert.ok(replicasOn(bob, 'alice').includes(snapAt(3)))
    assert.deepEqual(readFileSync(photo), damagedBefore, 'the history is not touched')
    const pulled = join(family.base, 'after-repair')
    assert.equal((await alice.famlab(['restore', '--from', 'bob', '--to', pulled])).code, 0)
    assert.deepEqual(await treeDifferences(join(alice.root, 'snapshots', snapAt(3)), pulled), [])
    assert.equal((await alice.famlab(['verify'])).code, 0)
    assert.equal(status(alice).verify.result, 'ok')
  })

  it('the recovery guard refuses a gutted local/ and spreads nothing; --force and recovery.auto go on', async () => {
    // carol loses everything: refused until the loss is declared intended
    const carolLocal = join(carol.root, 'local')
    for (const entry of readdirSync(carolLocal)) rmSync(join(carolLocal, entry), { recursive: true })
    const refused = await carol.famlab(['backup'], { env: { FAMLAB_NOW: at(4) } })
    assert.equal(refused.code, 1, refused.stderr)
    assert.match(refused.stderr, /recovery needed: local\/ is empty.*famlab restore/)
    assert.ok(!existsSync(join(carol.root, 'snapshots', snapAt(4))))
    assert.ok(!replicasOn(alice, 'carol').includes(snapAt(4)) && !replicasOn(bob, 'carol').includes(snapAt(4)))
    assert.match(status(carol).recovery_needed.message, /local\/ is empty/)
    const forced = await carol.famlab(['backup', '--force'], { env: { FAMLAB_NOW: at(5) } })
    assert.equal(forced.code, 0, forced.stderr)
    assert.equal(status(carol).recovery_needed, undefined)

    // alice loses most files: refused; with recovery.auto the backup restores local/ first
    const aliceLocal = join(alice.root, 'local')
    rmSync(join(aliceLocal, 'filehistory'), { recursive: true })
    rmSync(join(aliceLocal, 'timemachine'), { recursive: true })
    const gutted = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(4) } })
    assert.equal(gutted.code, 1, gutted.stderr)
    assert.match(gutted.stderr, /under half/)
    alice.writeConfig({ recovery: { auto: true } })
    const auto = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(5) } })
    alice.writeConfig({})
    assert.equal(auto.code, 0, auto.stderr)
    assert.deepEqual(await treeDifferences(join(alice.root, 'snapshots', snapAt(3)), join(alice.root, 'snapshots', snapAt(5))), [])
  })

  it('disaster drill: a wiped disk, re-initialised, re-joined via bob, restored from carol, backs up again', async () => {
    const last = readdirSync(join(alice.root, 'snapshots')).sort().at(-1)!
    const reference = join(family.base, 'reference')
    await runChecked(['rsync', '-aHAXS', '--numeric-ids', `${join(alice.root, 'snapshots', last)}/`, `${reference}/`])

    // The disk dies: a fresh btrfs, famlab state gone, famlab initialised again
    await runChecked(['umount', alice.root])
    await runChecked(['mkfs.btrfs', '-q', '-f', join(alice.dir, 'disk.img')])
    await runChecked(['mount', '-o', 'loop', join(alice.dir, 'disk.img'), alice.root])
    rmSync(alice.state, { recursive: true, force: true })
    const init = await alice.famlab(['init'])
    assert.equal(init.code, 0, init.stderr)

    // The admin re-joins alice under her name through an invite from bob
    const invite = await bob.famlab(['invite', '--reenroll', 'alice'])
    assert.equal(invite.code, 0, invite.stderr)
    const joined = await alice.famlab(['add-peer', invite.stdout.trim().split('\n').at(-1)!])
    assert.equal(joined.code, 0, joined.stderr)

    // Before the restore, the guard keeps the empty disk from being spread
    const early = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(6) } })
    assert.equal(early.code, 1, early.stderr)
    assert.match(early.stderr, /recovery needed: local\/ is empty while \w+ holds \d+ snapshots of this node/)

    const restored = await alice.famlab(['restore', '--from', 'carol', '--to', join(alice.root, 'local')])
    assert.equal(restored.code, 0, restored.stderr)
    assert.deepEqual(await treeDifferences(reference, join(alice.root, 'local')), [])

    // The next backup proceeds and shares unchanged files with the restored history (hard links
    // in link-dest mode, the same inode of a snapshot in snapshot mode)
    const backup = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(7) } })
    assert.equal(backup.code, 0, backup.stderr)
    const onBob = (snap: string) => join(bob.root, 'replicas/alice', snap, 'docs/letter.txt')
    assert.equal(statSync(onBob(snapAt(7))).ino, statSync(onBob(last)).ino)
  })
})

