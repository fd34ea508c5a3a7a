// The core capability on the real harness: three nodes enroll, back up and hold each other's data.
import assert from 'node:assert/strict'
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { run } from '../../lib/exec.ts'
import { createFamily, pullReplica, type Family, type Node } from '../harness/family.ts'
import { inMode, testModes } from '../harness/modes.ts'
import { treeDifferences, writeManyFiles, writeRichTree } from '../harness/tree.ts'

const at = (hours: number) => new Date(Date.UTC(2026, 10, 23, 10) + hours * 3600_000).toISOString().replace('.000', '')
const snapAt = (hours: number) => at(hours).replace(/:/g, '')
// Send mode's staging directory (root's btrfs receive) is always there once it has received;
// snapshot mode notes beside `.incomplete` which replica it copies.
const replicasOn = (holder: Node, origin: string) =>
  existsSync(join(holder.root, 'replicas', origin)) ? readdirSync(join(holder.root, 'replicas', origin)).filter((n) => n !== '.receiving' && n !== '.incomplete-basis').sort() : []
const history = (node: Node) => readFileSync(join(node.state, 'history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
const fakeSuperStat = async (file: string) => (await run(['getfattr', '--only-values', '-n', 'user.rsync.%stat', file])).stdout

for (const mode of testModes()) describe(`a three-node family (${mode} mode)`, () => {
  let family: Family
  let alice: Node, bob: Node, carol: Node

  before(async () => {
    family = await createFamily(['alice', 'bob', 'carol'], { enroll: false, config: inMode(mode) })
    ;[alice, bob, carol] = family.nodes
    // Send mode needs each holder's admin to opt in to the root-side receiver.
    if (mode === 'send') for (const node of family.nodes) assert.equal((await node.famlab(['send-receiver', 'enable'])).code, 0)
  })
  after(() => family?.cleanup())

  it('enrolls a third node through a member other than the first, and all agree', async () => {
    await family.enroll({ carol: 'bob' })
    const lists = await Promise.all(family.nodes.map(async (n) => JSON.parse((await n.famlab(['peers', '--json'])).stdout)))
    for (const list of lists) {
      assert.deepEqual(list.members.map((m: { name: string }) => m.name), ['alice', 'bob', 'carol'])
      assert.equal(list.version, lists[0].version)
    }
    for (const node of family.nodes) {
      const keys = readFileSync(join(node.state, 'authorized_keys'), 'utf8')
      const known = readFileSync(join(node.state, 'known_hosts'), 'utf8')
      for (const other of family.nodes.filter((o) => o !== node)) {
        const key = readFileSync(join(other.state, 'id_ed25519.pub'), 'utf8').split(' ').slice(0, 2).join(' ')
        assert.match(keys, new RegExp(`^command="[^"]+ serve --config ${node.config} --peer ${other.name}",restrict ${key.replace(/[+/]/g, '\\$&')} famlab:${other.name}$`, 'm'))
        const hostKey = readFileSync(join(other.dir, 'ssh_host_ed25519_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ')
        assert.ok(known.includes(`famlab-${other.name} ${hostKey}`), `${node.name} pins ${other.name}'s host key`)
      }
      assert.match(readFileSync(join(node.state, 'ssh_config'), 'utf8'), /StrictHostKeyChecking yes/)
    }
  })

  it('replicates every node to the two others, byte-identical with owners, modes, ACLs, xattrs and links', async () => {
    for (const node of family.nodes) {
      await writeRichTree(join(node.root, 'local'), node.name)
      const backup = await node.famlab(['backup'], { env: { FAMLAB_NOW: at(0) } })
      assert.equal(backup.code, 0, backup.stderr)
    }
    for (const origin of family.nodes) {
      for (const holder of family.nodes.filter((h) => h !== origin)) {
        assert.deepEqual(replicasOn(holder, origin.name), [snapAt(0)])
        const target = join(family.base, `pulled-${origin.name}-from-${holder.name}`)
        const pulled = await pullReplica(origin, holder, `${snapAt(0)}/`, target)
        assert.equal(pulled.code, 0, pulled.stderr)
        assert.deepEqual(await treeDifferences(join(origin.root, 'snapshots', snapAt(0)), target), [])
      }
    }
  })

  it('links unchanged files to the previous replica and sends about the changed bytes', async () => {
    const many = join(alice.root, 'local/many')
    writeManyFiles(many, 300, 32 * 1024)
    assert.equal((await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(1) } })).code, 0)
    writeFileSync(join(many, 'file-00042.bin'), Buffer.alloc(32 * 1024, 7))
    const backup = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(2) } })
    assert.equal(backup.code, 0, backup.stderr)

    const replica = (snap: string, file: string) => join(bob.root, 'replicas/alice', snap, 'many', file)
    assert.equal(statSync(replica(snapAt(1), 'file-00007.bin')).ino, statSync(replica(snapAt(2), 'file-00007.bin')).ino)
    if (mode === 'link-dest') {
      assert.notEqual(statSync(replica(snapAt(1), 'file-00042.bin')).ino, statSync(replica(snapAt(2), 'file-00042.bin')).ino)
    } else {
      // Snapshots of each other; the rewrite in place left the older one as it was
      assert.equal(statSync(join(bob.root, 'replicas/alice', snapAt(2))).ino, 256)
      assert.notDeepEqual(readFileSync(replica(snapAt(1), 'file-00042.bin')), readFileSync(replica(snapAt(2), 'file-00042.bin')))
      assert.deepEqual(readFileSync(replica(snapAt(1), 'file-00042.bin')), readFileSync(join(alice.root, 'snapshots', snapAt(1), 'many/file-00042.bin')))
    }
    const sent = history(alice).filter((e) => e.step === 'replicate' && e.snapshot === snapAt(2)).map((e) => e.bytes)
    assert.equal(sent.length, 2)
    for (const bytes of sent) {
      // 32 KiB changed, plus rsync's per-file overhead for ~320 unchanged entries
      assert.ok(bytes > 32 * 1024 && bytes < 32 * 1024 + 320 * 100 + 20_000, `sent ${bytes} bytes`)
    }
  })

  it('with one peer down, the other gets the snapshot and backup exits 3', async () => {
    await carol.stopSshd()
    try {
      writeFileSync(join(alice.root, 'local/while-carol-is-away.txt'), 'hello\n')
      const backup = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(3) } })
      assert.equal(backup.code, 3, backup.stderr)
      assert.ok(replicasOn(bob, 'alice').includes(snapAt(3)))
      assert.ok(!replicasOn(carol, 'alice').includes(snapAt(3)))
      const carolEntry = history(alice).findLast((e) => e.step === 'replicate' && e.peer === 'carol')
      assert.equal(carolEntry.result, 'offline')
    } finally {
      await carol.startSshd()
    }
    const next = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(4) } })
    assert.equal(next.code, 0, next.stderr)
    assert.ok(replicasOn(carol, 'alice').includes(snapAt(4)))
  })

  it('a transfer killed midway leaves no complete replica; the next run completes without touching history', async () => {
    // The big file sorts last, so the killed run has already hard-linked docs/ into .incomplete.
    mkdirSync(join(alice.root, 'local/zzz'), { recursive: true })
    await run(['dd', 'if=/dev/urandom', `of=${join(alice.root, 'local/zzz/big.bin')}`, 'bs=1M', 'count=24', 'status=none'])
    alice.writeConfig(inMode(mode, { replication: { bwlimit_kbps: 4000 } }))
    const before = replicasOn(bob, 'alice')
    const backup = alice.spawnFamlab(['backup'], { env: { FAMLAB_NOW: at(5) } })
    const receiving = join(bob.root, 'replicas/alice/.incomplete/zzz')
    for (let i = 0; i < 300; i++) {
      // rsync writes a temporary .big.bin.XXXXXX, or big.bin itself in place (snapshot mode);
      // btrfs receive may still hold it under a temporary name
      if (mode === 'send' && (await run(['find', join(bob.root, 'replicas/alice/.receiving'), '-type', 'f', '-size', '+4M'])).stdout.trim()) break
      const partial = existsSync(receiving) ? readdirSync(receiving).find((f) => f.startsWith('.big.bin.') || f === 'big.bin') : undefined
      if (partial && statSync(join(receiving, partial)).size > 4 << 20) break
      await new Promise((r) => setTimeout(r, 100))
    }
    process.kill(-backup.pid!, 'SIGKILL')
    await new Promise((r) => backup.once('exit', r))
    await new Promise((r) => setTimeout(r, 500))
    if (mode === 'send') {
      assert.deepEqual(replicasOn(bob, 'alice'), before)
      // A stream is never resumed: the next run sends again, and the partial subvolume goes.
      alice.writeConfig(inMode(mode))
      const again = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(6) } })
      assert.equal(again.code, 0, again.stderr)
      assert.deepEqual(replicasOn(bob, 'alice'), before.concat(snapAt(6)).sort())
      // Only received parents stay, each beside its replica; the killed one's partial is gone
      const received = readdirSync(join(bob.root, 'replicas/alice/.receiving'))
      assert.ok(received.every((name) => replicasOn(bob, 'alice').includes(name)), received.join(' '))
      const pulled = join(family.base, 'pulled-after-resume')
      assert.equal((await pullReplica(alice, bob, `${snapAt(6)}/`, pulled)).code, 0)
      assert.deepEqual(await treeDifferences(join(alice.root, 'snapshots', snapAt(6)), pulled), [])
      return
    }
    assert.deepEqual(replicasOn(bob, 'alice'), before.concat('.incomplete').sort())
    assert.ok(!existsSync(join(receiving, 'big.bin')) || statSync(join(receiving, 'big.bin')).size < 24 << 20)

    // An attribute-only change to a file the killed run hard-linked must not leak into the older replica
    const older = join(bob.root, 'replicas/alice', snapAt(4), 'docs/letter.txt')
    assert.equal(statSync(join(bob.root, 'replicas/alice/.incomplete/docs/letter.txt')).ino, statSync(older).ino)
    const statBefore = await fakeSuperStat(older)
    chmodSync(join(alice.root, 'local/docs/letter.txt'), 0o604)
    alice.writeConfig(inMode(mode))
    const resumed = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(6) } })
    assert.equal(resumed.code, 0, resumed.stderr)
    assert.deepEqual(replicasOn(bob, 'alice'), before.concat(snapAt(6)).sort())
    assert.equal(await fakeSuperStat(older), statBefore)
    assert.match(await fakeSuperStat(join(bob.root, 'replicas/alice', snapAt(6), 'docs/letter.txt')), /^100604 /)
    const pulled = join(family.base, 'pulled-after-resume')
    assert.equal((await pullReplica(alice, bob, `${snapAt(6)}/`, pulled)).code, 0)
    assert.deepEqual(await treeDifferences(join(alice.root, 'snapshots', snapAt(6)), pulled), [])
  })

  it('a second concurrent backup exits 75 and changes nothing', async () => {
    alice.writeConfig(inMode(mode, { replication: { bwlimit_kbps: 2000 } }))
    writeFileSync(join(alice.root, 'local/big.bin'), Buffer.alloc(8 << 20, 1))
    const first = alice.spawnFamlab(['backup'], { env: { FAMLAB_NOW: at(7) } })
    let firstErr = ''
    first.stderr!.on('data', (chunk: Buffer) => (firstErr += chunk))
    const exited = new Promise<number>((r) => first.once('exit', (code) => r(code ?? -1)))
    for (let i = 0; i < 100 && !existsSync(join(alice.root, 'snapshots', snapAt(7))); i++) await new Promise((r) => setTimeout(r, 100))
    const snapshotsBefore = readdirSync(join(alice.root, 'snapshots'))
    const second = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(8) } })
    assert.equal(second.code, 75, second.stderr)
    assert.deepEqual(readdirSync(join(alice.root, 'snapshots')), snapshotsBefore)
    assert.equal(await exited, 0, firstErr)
    alice.writeConfig(inMode(mode))
  })

  it('refuses what a peer key must not do, with a logged reason', async () => {
    const ssh = ['ssh', '-F', join(alice.state, 'ssh_config'), 'famlab-bob']
    const attempts = [
      [],
      ['id'],
      ['rsync', '--server', '--sender', '-logDtpre.iLsfxCIvu', '.', `${snapAt(0)}/../../carol/`],
      ['rsync', '--server', '-logDtpre.iLsfxCIvu', '.', '../carol/.incomplete/'],
      ['rsync', '--server', '-logDtpre.iLsfxCIvu', '.', `${snapAt(0)}/`],
      ['famlab', 'finalize', '../carol'],
    ]
    for (const words of attempts) {
      const result = await run([...ssh, ...words], { input: '' })
      assert.notEqual(result.code, 0, `"${words.join(' ')}" was allowed`)
      assert.match(result.stderr, /famlab serve: refused alice: /)
    }
    const refusals = history(bob).filter((e) => e.step === 'serve' && e.result === 'refused' && e.peer === 'alice')
    assert.ok(refusals.length >= attempts.length)
  })
})
