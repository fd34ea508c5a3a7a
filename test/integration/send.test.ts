// Send mode on real btrfs nodes: root's checked `btrfs receive` behind serve, incremental streams
// on a received parent, a whole stream when the parent is gone, restore and verify through the
// root reader, replicas out of ssh.user's reach, and a disk that fills mid-receive.
import assert from 'node:assert/strict'
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { run, runChecked } from '../../lib/exec.ts'
import { measureReplica } from '../../lib/sizes.ts'
import { createFamily, lastSent, type Family, type Node } from '../harness/family.ts'
import { inMode } from '../harness/modes.ts'
import { treeDifferences, writeRichTree } from '../harness/tree.ts'
import { Witness } from '../harness/witness.ts'

const at = (hours: number) => new Date(Date.UTC(2026, 10, 23, 10) + hours * 3600_000).toISOString().replace('.000', '')
const snapAt = (hours: number) => at(hours).replace(/:/g, '')
const MiB = 1 << 20

describe('send mode to a holder with the root receiver', () => {
  let family: Family
  let witness: Witness
  let alice: Node, bob: Node
  const replica = (snap: string) => join(bob.root, 'replicas/alice', snap)
  const complete = () => readdirSync(join(bob.root, 'replicas/alice')).filter((n) => !n.startsWith('.')).sort()
  const backup = async (hours: number) => {
    const result = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(hours) } })
    return { ...result, sent: lastSent(alice) }
  }
  const receivedUuid = async (path: string) => /Received UUID:\s*(\S+)/.exec(await runChecked(['btrfs', 'subvolume', 'show', path]))?.[1]
  const assertWitnessed = async (options = {}) => assert.deepEqual(await witness.check(options), [])

  before(async () => {
    family = await createFamily(['alice', 'bob'], { config: inMode('send'), imageSizes: { bob: '600M' } })
    ;[alice, bob] = family.nodes
    witness = new Witness(family)
  })
  after(() => family?.cleanup())

  it('without the root receiver, the holder does not offer send and the sender falls back to snapshot mode', async () => {
    await writeRichTree(join(alice.root, 'local'), 'alice')
    const first = await backup(0)
    assert.equal(first.code, 0, first.stderr)
    assert.match(first.stderr, /in snapshot mode/)
    await assertWitnessed()
  })

  it('sends the whole snapshot first, then incrementals on the received parent', async () => {
    const enabled = await bob.famlab(['send-receiver', 'enable'])
    assert.equal(enabled.code, 0, enabled.stderr)
    // The first send has no received parent on bob (the snapshot-mode replica is not one): whole.
    const whole = await backup(1)
    assert.equal(whole.code, 0, whole.stderr)
    assert.match(whole.stderr, /in send mode/)
    assert.match(whole.stderr, /sending .* whole|\(whole\)/)
    assert.ok(await receivedUuid(replica(snapAt(1))), 'the replica carries a Received UUID')
    assert.equal((await runChecked(['btrfs', 'property', 'get', '-ts', replica(snapAt(1)), 'ro'])).trim(), 'ro=true')
    await assertWitnessed()

    const band = join(alice.root, 'local/band.bin')
    await runChecked(['dd', 'if=/dev/urandom', `of=${band}`, 'bs=1M', 'count=32', 'status=none'])
    assert.equal((await backup(2)).code, 0)
    await runChecked(['dd', 'if=/dev/urandom', `of=${band}`, 'bs=1M', 'count=1', 'seek=7', 'conv=notrunc', 'status=none'])
    const incremental = await backup(3)
    assert.equal(incremental.code, 0, incremental.stderr)
    assert.match(incremental.stderr, /incremental on/)
    assert.ok(incremental.sent! > MiB && incremental.sent! < 2 * MiB, `sent ${incremental.sent} bytes for 1 MiB changed`)
    assert.deepEqual(readdirSync(join(bob.root, 'replicas/alice/.receiving')), [snapAt(1), snapAt(2), snapAt(3)], 'the received parents, nothing partial')
    await assertWitnessed()

    // ssh.user cannot read what root received: bob's root side measures it for the agreement.
    const report = JSON.parse((await alice.famlab(['report', '--json'], { env: { FAMLAB_NOW: at(3) } })).stdout)
    const allowance = report.agreement.self.allowance
    assert.ok(allowance.used_bytes > 33 * MiB, `alice's replicas on bob use ${allowance.used_bytes} bytes, with a 32 MiB band and a 1 MiB rewrite of it`)
  })

  it('restore and verify read send-mode replicas with their owners, through the root reader', async () => {
    const target = join(family.base, 'restored')
    const restored = await alice.famlab(['restore', '--from', 'bob', '--snapshot', snapAt(3), '--to', target])
    assert.equal(restored.code, 0, restored.stderr)
    assert.deepEqual(await treeDifferences(join(alice.root, 'snapshots', snapAt(3)), target), [])
    const verified = await alice.famlab(['verify', '--peer', 'bob'])
    assert.equal(verified.code, 0, verified.stderr + verified.stdout)
  })

  it('a parent missing on the holder makes the next stream whole, by itself', async () => {
    // The received subvolumes are the parents (the published replicas have no Received UUID)
    const received = join(bob.root, 'replicas/alice/.receiving')
    await runChecked(['btrfs', '-q', 'subvolume', 'delete', ...readdirSync(received).map((n) => join(received, n))])
    writeFileSync(join(alice.root, 'local/after-loss.txt'), 'new\n')
    const next = await backup(4)
    assert.equal(next.code, 0, next.stderr)
    assert.match(next.stderr, /sending .* whole/)
    await assertWitnessed({ allowPrunedOn: [bob] })
  })

  it('setuid files and owners arrive as they are, out of ssh.user\'s reach', async () => {
    const file = join(alice.root, 'local/suid-tool')
    writeFileSync(file, '#!/bin/sh\n')
    chmodSync(file, 0o4755)
    const next = await backup(5)
    assert.equal(next.code, 0, next.stderr)
    assert.match(next.stderr, /incremental on/)
    assert.equal((await runChecked(['stat', '-c', '%a %U', join(replica(snapAt(5)), 'suid-tool')])).trim(), '4755 root')
    const peek = await run(['su', '-s', '/bin/sh', bob.user, '-c', `ls ${replica(snapAt(5))}`])
    assert.notEqual(peek.code, 0, 'ssh.user cannot enter a send-mode replica')
    await assertWitnessed({ allowPrunedOn: [bob] })
    await runChecked(['rm', file])
  })

  it('a run asks and sends over one ssh connection to the holder, and leaves none behind', async () => {
    const accepted = () => (readFileSync(join(bob.dir, 'sshd.log'), 'utf8').match(/Accepted publickey/g) ?? []).length
    const before = accepted()
    writeFileSync(join(alice.root, 'local/one-connection.txt'), 'x\n')
    const next = await backup(5.5)
    assert.equal(next.code, 0, next.stderr)
    assert.match(next.stderr, /incremental on/)
    assert.equal(accepted() - before, 1, 'status and the stream share the connection the status request opened')
    assert.deepEqual(readdirSync(alice.state).filter((name) => name.startsWith('ssh-')), [], 'the shared connection was closed')
    await assertWitnessed({ allowPrunedOn: [bob] })
  })

  it('serve refuses receive-send from a peer to a node without the receiver, and a bad snapshot name', async () => {
    const ssh = ['ssh', '-F', join(alice.state, 'ssh_config'), 'famlab-bob']
    const bad = await run([...ssh, 'famlab', 'receive-send', '../../etc', 'none'], { input: 'btrfs-stream\0' })
    assert.notEqual(bad.code, 0)
    assert.match(bad.stderr, /famlab serve: /)
    const garbage = await run([...ssh, 'famlab', 'receive-send', snapAt(9), 'none'], { input: 'not a stream at all, not at all' })
    assert.notEqual(garbage.code, 0)
    assert.ok(!existsSync(replica(snapAt(9))))
    await assertWitnessed({ allowPrunedOn: [bob] })
  })

  it('a disk that fills during the receive leaves no complete-named replica', async () => {
    await runChecked(['dd', 'if=/dev/urandom', `of=${join(alice.root, 'local/big.bin')}`, 'bs=1M', 'count=150', 'status=none'])
    // Room for the stream when the transfer is checked; gone while it is received.
    const filler = join(bob.root, 'filler.bin')
    const free = Number((await runChecked(['df', '--output=avail', '-B1', bob.root])).trim().split('\n')[1])
    await runChecked(['fallocate', '-l', String(Math.max(free - 200 * MiB, 0)), filler])
    await runChecked(['btrfs', 'filesystem', 'sync', bob.root])
    const backupRun = alice.famlab(['backup'], { env: { FAMLAB_NOW: at(6) } })
    await runChecked(['bash', '-c', `for i in $(seq 600); do [ -n "$(ls -A ${join(bob.root, 'replicas/alice/.receiving')} 2>/dev/null)" ] && exit 0; sleep 0.1; done`])
    await run(['fallocate', '-l', String(150 * MiB), `${filler}.more`])
    const full = await backupRun
    assert.notEqual(full.code, 0, full.stderr)
    assert.ok(!complete().includes(snapAt(6)), 'no complete name for the failed transfer')
    await runChecked(['rm', '-f', filler, `${filler}.more`])
    await runChecked(['btrfs', 'filesystem', 'sync', bob.root])
    await assertWitnessed({ allowPrunedOn: [bob] })
  })
})

describe('restore --list on a holder with replicas of every mode', () => {
  let family: Family
  let alice: Node, bob: Node
  after(() => family?.cleanup())

  it('counts the files and bytes of send-mode replicas too, which only root can read', async () => {
    family = await createFamily(['alice', 'bob'], { config: inMode('send') })
    ;[alice, bob] = family.nodes
    await writeRichTree(join(alice.root, 'local'), 'alice')
    // Snapshot mode until bob runs the root receiver, send mode after
    assert.equal((await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(0) } })).code, 0)
    assert.equal((await bob.famlab(['send-receiver', 'enable'])).code, 0)
    writeFileSync(join(alice.root, 'local/later.txt'), 'later\n')
    const sent = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(1) } })
    assert.match(sent.stderr, /in send mode/)
    // What famlab kept before the root side measured: 0 files for the send-mode replica
    const kept = join(bob.root, 'replicas/alice/.sizes.json')
    writeFileSync(kept, JSON.stringify({ [snapAt(1)]: { bytes: 0, files: 0 } }))
    await runChecked(['chown', bob.user, kept])

    for (let listing = 1; listing <= 2; listing++) {
      const listed = await alice.famlab(['restore', '--list', '--from', 'bob', '--json'])
      assert.equal(listed.code, 0, listed.stderr)
      const held = JSON.parse(listed.stdout).peers.bob
      assert.deepEqual(held.map((r: { name: string }) => r.name), [snapAt(0), snapAt(1)])
      for (const replica of held) {
        // Measured as root; an rsync holder's symlinks are files of their munged target, a little longer
        const onBob = await measureReplica(join(bob.root, 'replicas/alice', replica.name))
        assert.deepEqual({ bytes: replica.bytes, files: replica.files }, onBob, `listing ${listing}: ${replica.name} as bob holds it`)
        assert.equal(replica.files, (await measureReplica(join(alice.root, 'snapshots', replica.name)))!.files)
      }
    }

    // The root side measures only complete replicas of the peer named, by name
    const receiver = JSON.parse(readFileSync(join(bob.state, 'send-receiver.json'), 'utf8'))
    for (const names of ['../../etc', `${snapAt(1)},.receiving`, snapAt(9)]) {
      const asked = await run(['su', '-s', '/bin/sh', bob.user, '-c', `sudo -n ${receiver.famlab} serve-root --config ${receiver.config} --peer alice sizes '${names}'`])
      assert.equal(asked.code, 2, `sizes ${names}: ${asked.stderr}`)
      assert.match(asked.stderr, /famlab serve: refused/)
    }
  })
})

