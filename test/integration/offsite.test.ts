// Beyond the family LAN, on the real harness: a bare target (plain sshd account, no famlab),
// seeding a peer from a carried disk, and rejoining from a recovery kit.
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { run } from '../../lib/exec.ts'
import { createFamily, pullReplica, type Family, type Node } from '../harness/family.ts'
import { createPlainTarget, type PlainTarget } from '../harness/plain-target.ts'
import { treeDifferences, writeManyFiles, writeRichTree } from '../harness/tree.ts'

const at = (hours: number) => new Date(Date.UTC(2026, 10, 23, 10) + hours * 3600_000).toISOString().replace('.000', '')
const snapAt = (hours: number) => at(hours).replace(/:/g, '')
const history = (node: Node) => readFileSync(join(node.state, 'history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
const sentTo = (node: Node, peer: string, snap: string) =>
  history(node).filter((e) => e.step === 'replicate' && e.peer === peer && e.snapshot === snap && e.result === 'ok').map((e) => e.bytes as number)
const list = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : [])

describe('beyond the family LAN', () => {
  let family: Family
  let alice: Node, bob: Node
  let vps: PlainTarget
  const onTarget = (...parts: string[]) => join(vps.data, 'alice', ...parts)

  before(async () => {
    family = await createFamily(['alice', 'bob'])
    ;[alice, bob] = family.nodes
    vps = await createPlainTarget(family.base)
  })
  after(() => family?.cleanup())

  describe('a bare target', () => {

  it('is added only when it can be reached with the pinned host key and this node is authorized', async () => {
    const add = (hostKey: string) => alice.famlab(['add-target', 'vps', '--ssh', `${vps.user}@127.0.0.1:${vps.port}`, '--path', vps.data, '--host-key', hostKey])
    const bad = await alice.famlab(['add-target', 'vps', '--ssh', 'nobody-at-all', '--path', vps.data, '--host-key', vps.hostKey])
    assert.equal(bad.code, 2, bad.stderr)
    assert.match(bad.stderr, /--ssh/)

    const unauthorized = await add(vps.hostKey)
    assert.equal(unauthorized.code, 1)
    assert.match(unauthorized.stderr, /authorize this node's key/)
    assert.ok(!existsSync(join(alice.state, 'targets.yaml')) || !readFileSync(join(alice.state, 'targets.yaml'), 'utf8').includes('vps'))

    vps.authorize(readFileSync(join(alice.state, 'id_ed25519.pub'), 'utf8'))
    const otherKey = readFileSync(join(bob.dir, 'ssh_host_ed25519_key.pub'), 'utf8')
    const wrongHostKey = await add(otherKey)
    assert.equal(wrongHostKey.code, 1)
    assert.match(wrongHostKey.stderr, /refused/)

    const added = await add(vps.hostKey)
    assert.equal(added.code, 0, added.stderr)
    assert.match(readFileSync(join(alice.state, 'targets_known_hosts'), 'utf8'), new RegExp(`^famlab-target-vps ${vps.hostKey.replace(/[+/]/g, '\\$&')}$`, 'm'))
  })

  it('receives every snapshot like a peer: byte-identical with owners, modes, ACLs and xattrs', async () => {
    await writeRichTree(join(alice.root, 'local'), 'alice')
    writeManyFiles(join(alice.root, 'local/many'), 200, 16 * 1024)
    const backup = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(0) } })
    assert.equal(backup.code, 0, backup.stderr)
    assert.deepEqual(list(onTarget()), [snapAt(0)])
    const pulled = join(family.base, 'pulled-from-vps')
    const pull = await run([
      'rsync', '-aHAX', '--numeric-ids', '--rsync-path=rsync --fake-super', '-e', `ssh -F ${join(alice.state, 'targets_ssh_config')}`,
      `famlab-target-vps:${onTarget(snapAt(0))}/`, `${pulled}/`,
    ])
    assert.equal(pull.code, 0, pull.stderr)
    assert.deepEqual(await treeDifferences(join(alice.root, 'snapshots', snapAt(0)), pulled), [])
    const owner = statSync(onTarget(snapAt(0), 'docs/letter.txt')).uid
    assert.equal(owner, Number((await run(['id', '-u', vps.user])).stdout.trim()), 'stored as the plain user, owner kept in xattrs')
  })

  it('links unchanged files to the previous snapshot and sends about the changed bytes', async (t) => {
    writeFileSync(join(alice.root, 'local/many/file-00042.bin'), Buffer.alloc(16 * 1024, 7))
    const backup = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(1) } })
    assert.equal(backup.code, 0, backup.stderr)
    assert.deepEqual(list(onTarget()), [snapAt(0), snapAt(1)])
    const file = (snap: string, name: string) => statSync(onTarget(snap, 'many', name)).ino
    assert.equal(file(snapAt(0), 'file-00007.bin'), file(snapAt(1), 'file-00007.bin'))
    assert.notEqual(file(snapAt(0), 'file-00042.bin'), file(snapAt(1), 'file-00042.bin'))
    const [bytes] = sentTo(alice, 'vps', snapAt(1))
    assert.ok(bytes > 16 * 1024 && bytes < 16 * 1024 + 220 * 100 + 20_000, `sent ${bytes} bytes`)
    t.diagnostic(`to the target: ${bytes} bytes sent for one changed 16384-byte file among 200`)
  })

  it('an unreachable target makes the backup partial; the peers still get it, the next run catches up', async () => {
    await vps.stop()
    try {
      const backup = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(2) } })
      assert.equal(backup.code, 3, backup.stderr)
      assert.ok(list(join(bob.root, 'replicas/alice')).includes(snapAt(2)))
      assert.equal(history(alice).findLast((e) => e.step === 'replicate' && e.peer === 'vps').result, 'offline')
    } finally {
      await vps.start()
    }
    const replicate = await alice.famlab(['replicate', '--peer', 'vps'], { env: { FAMLAB_NOW: at(2) } })
    assert.equal(replicate.code, 0, replicate.stderr)
    assert.deepEqual(list(onTarget()), [snapAt(0), snapAt(1), snapAt(2)])
  })

  it('retention on the target is run by this node, with --dry-run first', async () => {
    alice.writeConfig({ retention: { replicas: '2h' } })
    const dry = await alice.famlab(['prune', '--dry-run'], { env: { FAMLAB_NOW: at(2) } })
    assert.equal(dry.code, 0, dry.stderr)
    assert.match(dry.stdout, new RegExp(`would remove vps:${onTarget()}/${snapAt(0)}`))
    assert.deepEqual(list(onTarget()), [snapAt(0), snapAt(1), snapAt(2)])
    const prune = await alice.famlab(['prune'], { env: { FAMLAB_NOW: at(2) } })
    assert.equal(prune.code, 0, prune.stderr)
    assert.deepEqual(list(onTarget()), [snapAt(1), snapAt(2)])
    alice.writeConfig({})
  })

  it('report covers it like a peer: newest copy, size, disk; offline and stale alerts name it', async () => {
    const metrics = join(family.base, 'alice.prom')
    const report = await alice.famlab(['report', '--json', '--prometheus', metrics], { env: { FAMLAB_NOW: at(3) } })
    assert.ok(report.code === 0 || report.code === 1, report.stderr)
    const json = JSON.parse(report.stdout)
    const [vpsReport] = json.targets
    assert.equal(json.targets.length, 1)
    assert.equal(vpsReport.name, 'vps')
    assert.equal(vpsReport.reachable, true)
    assert.equal(vpsReport.newest, snapAt(2))
    assert.equal(vpsReport.count, 2)
    assert.equal(vpsReport.age_hours, 1)
    const apparent = Number((await run(['bash', '-c', `find ${onTarget(snapAt(2))} ! -type d -printf '%s\\n' | awk '{b+=$1} END {print b}'`])).stdout)
    assert.equal(vpsReport.newest_bytes, apparent)
    assert.ok(vpsReport.total_bytes > 0 && vpsReport.free_bytes > 0 && vpsReport.free_bytes <= vpsReport.total_bytes)
    assert.deepEqual(json.alerts.filter((a: { node: string; kind: string }) => a.node === 'vps' && a.kind !== 'storage_full'), [])
    const prom = readFileSync(metrics, 'utf8')
    assert.match(prom, /^famlab_target_up\{target="vps",origin="alice"\} 1$/m)
    assert.match(prom, new RegExp(`^famlab_target_newest_copy_timestamp_seconds\\{target="vps",origin="alice"\\} ${Date.parse(at(2)) / 1000}$`, 'm'))
    const promtool = await run(['promtool', 'check', 'metrics'], { input: prom })
    assert.equal(promtool.code, 0, promtool.stdout + promtool.stderr)
    const human = await alice.famlab(['report'], { env: { FAMLAB_NOW: at(3) } })
    assert.match(human.stdout, new RegExp(`^vps +yes +${snapAt(2)} \\(1h\\) +2 `, 'm'))

    await vps.stop()
    try {
      const down = await alice.famlab(['report', '--json'], { env: { FAMLAB_NOW: at(40) } })
      assert.equal(down.code, 1, down.stderr)
      const later = JSON.parse(down.stdout)
      assert.equal(later.targets[0].reachable, false)
      assert.equal(later.targets[0].last_seen, at(3).replace('Z', '.000Z'))
      assert.equal(later.targets[0].newest, snapAt(2), 'what it said last')
      const kinds = later.alerts.filter((a: { node: string; kind: string }) => a.node === 'vps' && a.kind !== 'storage_full').map((a: { kind: string }) => a.kind).sort()
      assert.deepEqual(kinds, ['backup_stale', 'peer_offline'])
    } finally {
      await vps.start()
    }
  })

  it('restore lists its snapshots and brings back the newest, a chosen one, or one path, over its plain account', async () => {
    const listed = await alice.famlab(['restore', '--list', '--json'])
    assert.equal(listed.code, 0, listed.stderr)
    const holds = JSON.parse(listed.stdout).peers.vps
    assert.deepEqual(holds.map((r: { name: string }) => r.name), [snapAt(1), snapAt(2)])
    assert.ok(holds.every((r: { bytes: number; files: number }) => r.bytes > 200 * 16 * 1024 && r.files > 200))
    const human = await alice.famlab(['restore', '--list', '--from', 'vps'])
    assert.match(human.stdout, /^vps holds 2 snapshots of alice$/m)

    const newest = join(family.base, 'restored-from-vps')
    const full = await alice.famlab(['restore', '--from', 'vps', '--to', newest])
    assert.equal(full.code, 0, full.stderr)
    assert.deepEqual(await treeDifferences(join(alice.root, 'snapshots', snapAt(2)), newest), [])

    const chosen = join(family.base, 'restored-from-vps-older')
    const older = await alice.famlab(['restore', '--from', 'vps', '--snapshot', snapAt(1), '--path', 'docs', '--to', chosen])
    assert.equal(older.code, 0, older.stderr)
    assert.deepEqual(list(chosen), ['docs'])
    assert.deepEqual(await treeDifferences(join(alice.root, 'snapshots', snapAt(1), 'docs'), join(chosen, 'docs')), [])

    const missing = await alice.famlab(['restore', '--from', 'vps', '--snapshot', snapAt(0), '--to', join(family.base, 'nothing')])
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /holds no snapshot/)
    const otherOrigin = await alice.famlab(['restore', '--list', '--from', 'vps', '--origin', 'bob'])
    assert.equal(otherOrigin.code, 2)
  })
})

  describe('seeding a peer from a carried disk', () => {
    const carried = () => join(family.base, 'carried-disk')
    let seed: string

    it('exports the newest snapshot with checksums; the peer refuses a wrong origin and a damaged copy', async () => {
      writeManyFiles(join(bob.root, 'local/photos'), 150, 32 * 1024)
      await writeRichTree(join(bob.root, 'local'), 'bob')
      assert.equal((await bob.famlab(['snapshot'], { env: { FAMLAB_NOW: at(0) } })).code, 0)
      const exported = await bob.famlab(['seed', 'export', '--peer', 'alice', '--to', carried()])
      assert.equal(exported.code, 0, exported.stderr)
      seed = exported.stdout.trim()
      assert.equal(seed, join(carried(), `famlab-seed-bob-${snapAt(0)}`))

      const wrongOrigin = await alice.famlab(['seed', 'import', '--from', carried(), '--origin', 'alice'])
      assert.equal(wrongOrigin.code, 2, wrongOrigin.stderr)
      const victim = join(seed, 'tree/photos/file-00003.bin')
      const original = readFileSync(victim)
      writeFileSync(victim, Buffer.concat([original.subarray(0, 100), Buffer.from([original[100] ^ 1]), original.subarray(101)]))
      const damaged = await alice.famlab(['seed', 'import', '--from', carried(), '--origin', 'bob'])
      assert.equal(damaged.code, 1, damaged.stderr)
      assert.match(damaged.stderr, /damaged.*file-00003/)
      assert.deepEqual(list(join(alice.root, 'replicas/bob')).filter((n) => !n.startsWith('.')), [])
      writeFileSync(victim, original)
    })

    it('places the seed as a complete replica; the first network run sends about the changed bytes', async (t) => {
      const imported = await alice.famlab(['seed', 'import', '--from', carried(), '--origin', 'bob'])
      assert.equal(imported.code, 0, imported.stderr)
      assert.deepEqual(list(join(alice.root, 'replicas/bob')), [snapAt(0)])
      const seeded = join(alice.root, 'replicas/bob', snapAt(0), 'photos/file-00007.bin')
      assert.equal(statSync(seeded).uid, Number((await run(['id', '-u', alice.user])).stdout.trim()))

      writeFileSync(join(bob.root, 'local/photos/file-00042.bin'), Buffer.alloc(32 * 1024, 9))
      const backup = await bob.famlab(['backup'], { env: { FAMLAB_NOW: at(1) } })
      assert.equal(backup.code, 0, backup.stderr)
      const [bytes] = sentTo(bob, 'alice', snapAt(1))
      assert.ok(bytes > 32 * 1024 && bytes < 32 * 1024 + 200 * 100 + 20_000, `sent ${bytes} bytes after the seed`)
      t.diagnostic(`first network run after the seed: ${bytes} bytes sent for one changed 32768-byte file among 150 (seeded tree: ${150 * 32 * 1024} bytes of photos alone)`)
      // link-dest mode hard-links the unchanged file; snapshot mode (a btrfs holder's default) reflinks it into a subvolume
      const newer = join(alice.root, 'replicas/bob', snapAt(1))
      if (statSync(newer).ino !== 256) assert.equal(statSync(seeded).ino, statSync(join(newer, 'photos/file-00007.bin')).ino)
      const pulled = join(family.base, 'pulled-seeded')
      assert.equal((await pullReplica(bob, alice, `${snapAt(1)}/`, pulled)).code, 0)
      assert.deepEqual(await treeDifferences(join(bob.root, 'snapshots', snapAt(1)), pulled), [])
    })
  })

  describe('a recovery kit', () => {
    it('is written 0600 with the node key, the members with pinned host keys, the config and instructions', async () => {
      const kit = join(family.base, 'bob.famlab-kit')
      const written = await bob.famlab(['recovery-kit', '--out', kit])
      assert.equal(written.code, 0, written.stderr)
      assert.match(written.stdout, /famlab rejoin --kit/)
      assert.equal(statSync(kit).mode & 0o777, 0o600)
      const text = readFileSync(kit, 'utf8')
      assert.ok(text.includes(readFileSync(join(bob.state, 'id_ed25519'), 'utf8').trim().split('\n')[1]))
      assert.ok(text.includes(readFileSync(join(alice.dir, 'ssh_host_ed25519_key.pub'), 'utf8').split(' ')[1]))
      assert.match(text, /^# .*famlab rejoin --kit/m)
    })

    it('a reinstalled node with a new disk and a new host key rejoins without an invite and gets its data back', async () => {
      const kit = join(family.base, 'bob.famlab-kit')
      // The house fire: new disk, fresh OS (new sshd host key), no config, no state
      await bob.stopSshd()
      await run(['umount', bob.root])
      await run(['mkfs.btrfs', '-q', '-f', join(bob.dir, 'disk.img')])
      await run(['mount', '-o', 'loop', join(bob.dir, 'disk.img'), bob.root])
      await run(['rm', '-rf', bob.state, bob.config, join(bob.dir, 'ssh_host_ed25519_key'), join(bob.dir, 'ssh_host_ed25519_key.pub')])
      await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'bob-reinstalled', '-f', join(bob.dir, 'ssh_host_ed25519_key')])

      const rejoined = await bob.famlab(['rejoin', '--kit', kit])
      assert.equal(rejoined.code, 0, rejoined.stderr)
      assert.ok(existsSync(bob.config))
      await bob.startSshd()
      const newHostKey = readFileSync(join(bob.dir, 'ssh_host_ed25519_key.pub'), 'utf8').split(' ')[1]
      assert.ok(readFileSync(join(alice.state, 'known_hosts'), 'utf8').includes(newHostKey), 'alice pins the new host key')

      // The family reaches bob again, and bob reads his own history back from alice
      const backup = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(5) } })
      assert.equal(backup.code, 0, backup.stderr)
      assert.ok(list(join(bob.root, 'replicas/alice')).includes(snapAt(5)))
      const restored = join(family.base, 'bob-restored')
      const restore = await bob.famlab(['restore', '--from', 'alice', '--snapshot', snapAt(0), '--to', restored])
      assert.equal(restore.code, 0, restore.stderr)
      assert.deepEqual(await treeDifferences(join(family.base, 'carried-disk', `famlab-seed-bob-${snapAt(0)}`, 'tree'), restored), [])
    })
  })
})
