// Membership on the real harness: re-enrolling a wiped node, with one member offline meanwhile.
import assert from 'node:assert/strict'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join as joinPath } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { run } from '../../lib/exec.ts'
import { copyNodeKey, fingerprintNode, impersonate, joinThrough, publicKey, reinstall, stranger } from '../harness/admin.ts'
import { createFamily, pullReplica, type Family, type Node } from '../harness/family.ts'

const at = (hours: number) => new Date(Date.UTC(2026, 10, 23, 10) + hours * 3600_000).toISOString().replace('.000', '')
const snapAt = (hours: number) => at(hours).replace(/:/g, '')
const peersOf = async (node: Node) => JSON.parse((await node.famlab(['peers', '--json'])).stdout)
const authorized = (node: Node) => readFileSync(joinPath(node.state, 'authorized_keys'), 'utf8')
const history = (node: Node) => readFileSync(joinPath(node.state, 'history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))

describe('membership', () => {
  let family: Family
  let alice: Node, bob: Node, carol: Node

  before(async () => {
    family = await createFamily(['alice', 'bob', 'carol'])
    ;[alice, bob, carol] = family.nodes
    for (const node of family.nodes) {
      writeFileSync(joinPath(node.root, 'local', 'letter.txt'), `from ${node.name}\n`)
      const backup = await node.famlab(['backup'], { env: { FAMLAB_NOW: at(0) } })
      assert.equal(backup.code, 0, backup.stderr)
    }
  })
  after(() => family?.cleanup())

  it('refuses a plain invite for a name already in the family, and --reenroll of a stranger or of itself', async () => {
    const before = authorized(alice)
    const bobKey = publicKey(joinPath(bob.state, 'id_ed25519.pub'))
    const { joined } = await joinThrough(alice, bob)
    assert.equal(joined.code, 1, joined.stderr)
    assert.match(joined.stderr, /this node is already in a family/)
    // Another box calling itself bob cannot take bob's place with a plain invite
    const fakeBob = await stranger(family, 'bob', 'fake-bob')
    const takeover = await joinThrough(alice, fakeBob)
    assert.equal(takeover.joined.code, 1, takeover.joined.stderr)
    assert.match(takeover.joined.stderr, /"bob" is already a member .*invite --reenroll bob/)
    assert.ok(authorized(alice).includes(bobKey))
    assert.ok(authorized(carol).includes(bobKey))
    assert.equal((await alice.famlab(['invite', '--reenroll', 'zed'])).code, 2)
    assert.equal((await alice.famlab(['invite', '--reenroll', 'alice'])).code, 2)
    // The unused invite stays in authorized_keys until it expires; nothing else changed
    assert.equal(authorized(alice).split('\n').filter((l) => l.includes('famlab:')).join('\n'), before.split('\n').filter((l) => l.includes('famlab:')).join('\n'))
  })

  it('re-enrolls a wiped node under its name with a new key; the old key stops working everywhere, carol catching up later', async () => {
    const oldKey = copyNodeKey(family, bob, 'bob-before-the-fire')
    const versionBefore = (await peersOf(alice)).version
    await carol.stopSshd()
    await reinstall(bob)
    assert.notEqual(publicKey(joinPath(bob.state, 'id_ed25519.pub')), publicKey(`${oldKey}.pub`))

    // A wrong name with a re-enroll invite is refused; the right one joins
    const dave = await stranger(family, 'dave')
    const wrong = await joinThrough(alice, dave, ['--reenroll', 'bob'])
    assert.equal(wrong.joined.code, 1)
    assert.match(wrong.joined.stderr, /re-enrolls "bob", but the joining node is named "dave"/)
    const { joined } = await joinThrough(alice, bob, ['--reenroll', 'bob'])
    assert.equal(joined.code, 0, joined.stderr)
    const list = await peersOf(bob)
    assert.deepEqual(list.members.map((m: { name: string }) => m.name), ['alice', 'bob', 'carol'])
    assert.ok(list.version > versionBefore)
    assert.equal((await peersOf(alice)).version, list.version)

    // bob reads its own replica back from alice with its new key
    const pulled = joinPath(family.base, 'bob-restored-from-alice')
    const pull = await pullReplica(bob, alice, `${snapAt(0)}/`, pulled)
    assert.equal(pull.code, 0, pull.stderr)
    assert.equal(readFileSync(joinPath(pulled, 'letter.txt'), 'utf8'), 'from bob\n')

    // The old key is refused by alice at once
    assert.ok(!authorized(alice).includes(publicKey(`${oldKey}.pub`)))
    const stolen = await run([...impersonate(family, bob, oldKey, 'alice'), 'famlab', 'status'], { input: '' })
    assert.equal(stolen.code, 255)
    assert.match(stolen.stderr, /Permission denied/)

    // carol was offline: it still trusts the old key until its next contact, then catches up
    await carol.startSshd()
    assert.ok(authorized(carol).includes(publicKey(`${oldKey}.pub`)))
    const replicate = await alice.famlab(['replicate'])
    assert.equal(replicate.code, 0, replicate.stderr)
    assert.ok(!authorized(carol).includes(publicKey(`${oldKey}.pub`)))
    assert.ok(authorized(carol).includes(publicKey(joinPath(bob.state, 'id_ed25519.pub'))))
    assert.equal((await peersOf(carol)).version, list.version)
    const late = await run([...impersonate(family, bob, oldKey, 'carol'), 'famlab', 'status'], { input: '' })
    assert.equal(late.code, 255)
    const fromCarol = joinPath(family.base, 'bob-restored-from-carol')
    assert.equal((await pullReplica(bob, carol, `${snapAt(0)}/`, fromCarol)).code, 0)
    assert.equal(readFileSync(joinPath(fromCarol, 'letter.txt'), 'utf8'), 'from bob\n')
    assert.ok(history(carol).some((e) => e.step === 'peers-update' && e.peer === 'alice' && e.result === 'ok'))

    // And bob backs up again to both
    writeFileSync(joinPath(bob.root, 'local', 'letter.txt'), 'from bob, rebuilt\n')
    const backup = await bob.famlab(['backup'], { env: { FAMLAB_NOW: at(1), } })
    assert.equal(backup.code, 0, backup.stderr)
    for (const holder of [alice, carol]) assert.ok(existsSync(joinPath(holder.root, 'replicas/bob', snapAt(1), 'letter.txt')))
  })

  it('removes carol while bob is offline; bob catches up on its next contact, and an older list is refused', async () => {
    const carolKey = publicKey(joinPath(carol.state, 'id_ed25519.pub'))
    const asBob = (target: Node) => ['ssh', '-F', joinPath(bob.state, 'ssh_config'), `famlab-${target.name}`]
    const oldList = (await run([...asBob(alice), 'famlab', 'peers'], { input: '' })).stdout
    assert.ok(JSON.parse(oldList).members.some((m: { name: string }) => m.name === 'carol'))
    await bob.stopSshd()

    const untouched = await fingerprintNode(alice)
    const dry = await alice.famlab(['remove-peer', 'carol', '--dry-run'])
    assert.equal(dry.code, 0, dry.stderr)
    assert.match(dry.stderr, /\[dry-run\] would remove carol/)
    assert.equal(await fingerprintNode(alice), untouched)
    assert.equal((await alice.famlab(['remove-peer', 'carol', '--purge', '--keep-data'])).code, 2)
    assert.equal((await alice.famlab(['remove-peer', 'alice'])).code, 2)
    assert.equal((await alice.famlab(['remove-peer', 'zed'])).code, 2)

    const removed = await alice.famlab(['remove-peer', 'carol'])
    assert.equal(removed.code, 0, removed.stderr)
    assert.match(removed.stderr, /bob: offline: .*next contact/)
    assert.ok(!authorized(alice).includes(carolKey))
    assert.deepEqual((await peersOf(alice)).members.map((m: { name: string }) => m.name), ['alice', 'bob'])
    assert.ok(existsSync(joinPath(alice.root, 'replicas/carol', snapAt(0))), 'replicas stay by default')
    const refused = await run(['ssh', '-F', joinPath(carol.state, 'ssh_config'), 'famlab-alice', 'famlab', 'status'], { input: '' })
    assert.equal(refused.code, 255)
    assert.match(refused.stderr, /Permission denied/)

    // bob was offline: it learns on its next contact and stops sending to carol
    await bob.startSshd()
    assert.ok(authorized(bob).includes(carolKey))
    const backup = await bob.famlab(['backup'], { env: { FAMLAB_NOW: at(2) } })
    assert.equal(backup.code, 0, backup.stderr)
    assert.ok(!authorized(bob).includes(carolKey))
    assert.deepEqual((await peersOf(bob)).members.map((m: { name: string }) => m.name), ['alice', 'bob'])
    assert.ok(!existsSync(joinPath(carol.root, 'replicas/bob', snapAt(2))))
    assert.ok(existsSync(joinPath(alice.root, 'replicas/bob', snapAt(2))))

    // The list from before the removal is refused, and changes nothing
    const version = (await peersOf(alice)).version
    const stale = await run([...asBob(alice), 'famlab', 'peers-update'], { input: oldList })
    assert.equal(stale.code, 2)
    assert.match(stale.stderr, /older than ours/)
    assert.equal((await peersOf(alice)).version, version)
    assert.ok(!authorized(alice).includes(carolKey))

    // --purge: first see, then delete the copies held here
    const keep = await fingerprintNode(alice)
    const preview = await alice.famlab(['remove-peer', 'carol', '--purge', '--dry-run'])
    assert.equal(preview.code, 0, preview.stderr)
    assert.match(preview.stderr, new RegExp(`would delete .*replicas/carol/${snapAt(0)}`))
    assert.equal(await fingerprintNode(alice), keep)
    const purge = await alice.famlab(['remove-peer', 'carol', '--purge'])
    assert.equal(purge.code, 0, purge.stderr)
    assert.ok(!existsSync(joinPath(alice.root, 'replicas/carol')))
    assert.ok(history(alice).some((e) => e.step === 'purge' && e.peer === 'carol'))
  })
})
