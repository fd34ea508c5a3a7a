// family.copies on a real four-node family: each origin on exactly k peers, the same placement
// seen from every node; a peer gone past offline_hours hands its place to the next one, which
// is seeded with a full copy; a snapshot over the allowance (S / k) is refused, nothing sent.
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { runChecked } from '../../lib/exec.ts'
import { createFamily, pullReplica, type Family, type Node } from '../harness/family.ts'
import { startMailSink } from '../harness/mail-sink.ts'
import { treeDifferences, writeRichTree } from '../harness/tree.ts'

// Serve records the requests it answers by the real clock: the test's clock runs ahead of it.
const at = (hours: number) => new Date(Date.UTC(2027, 0, 4, 10) + hours * 3600_000).toISOString().replace('.000', '')
const snapAt = (hours: number) => at(hours).replace(/:/g, '')
const replicasOn = (holder: Node, origin: string) =>
  existsSync(join(holder.root, 'replicas', origin)) ? readdirSync(join(holder.root, 'replicas', origin)).sort() : []
const history = (node: Node) => readFileSync(join(node.state, 'history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
const COPIES = { family: { copies: 2 } }
const alertsOf = (json: string, node: string): string[] =>
  (JSON.parse(json).alerts as { kind: string; node: string }[]).filter((a) => a.node === node).map((a) => a.kind)

type PeersJson = { members: { name: string; placed_on: string[]; offered_bytes: number }[] }

describe('a four-node family keeping two copies of each', () => {
  let family: Family
  let alice: Node
  let placement: Record<string, string[]>

  before(async () => {
    family = await createFamily(['alice', 'bob', 'carol', 'dave'], { config: COPIES })
    alice = family.nodes[0]
  })
  after(() => family?.cleanup())

  it('places each origin on exactly two peers, computed identically on every node', async () => {
    const views = await Promise.all(family.nodes.map(async (n) => JSON.parse((await n.famlab(['peers', '--json'])).stdout) as PeersJson))
    placement = Object.fromEntries(views[0].members.map((m) => [m.name, m.placed_on]))
    for (const view of views) {
      assert.deepEqual(Object.fromEntries(view.members.map((m) => [m.name, m.placed_on])), placement)
      for (const m of view.members) assert.ok(m.offered_bytes > 0, `${m.name} announced the space it offers`)
    }
    for (const node of family.nodes) {
      await writeRichTree(join(node.root, 'local'), node.name)
      const backup = await node.famlab(['backup'], { env: { FAMLAB_NOW: at(0) } })
      assert.equal(backup.code, 0, backup.stderr)
    }
    for (const origin of family.nodes) {
      assert.equal(placement[origin.name].length, 2)
      assert.ok(!placement[origin.name].includes(origin.name))
      for (const holder of family.nodes.filter((h) => h !== origin)) {
        const expected = placement[origin.name].includes(holder.name) ? [snapAt(0)] : []
        assert.deepEqual(replicasOn(holder, origin.name), expected, `${origin.name} on ${holder.name}`)
      }
    }
  })

  it('a holder gone past offline_hours hands its place to the next peer, seeded with a full copy', async () => {
    const [gone, stays] = placement.alice.map((name) => family.node(name))
    const next = family.nodes.find((n) => n !== alice && !placement.alice.includes(n.name))!
    await gone.stopSshd()
    try {
      // Within offline_hours the place is kept: the run is partial.
      writeFileSync(join(alice.root, 'local/docs/later.txt'), 'one hour later\n')
      const partial = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(1) } })
      assert.equal(partial.code, 3, partial.stderr)
      assert.deepEqual(replicasOn(next, 'alice'), [])

      // 37 hours after the first snapshot short of two copies, report warns.
      const warned = await alice.famlab(['report', '--json'], { env: { FAMLAB_NOW: at(38) } })
      assert.equal(warned.code, 1, warned.stderr)
      assert.ok(alertsOf(warned.stdout, 'alice').includes('replication_factor'), warned.stdout)
      const answers = JSON.parse(warned.stdout).agreement.self
      assert.equal(answers.backed_up, false)
      assert.equal(answers.copies.behind_since, new Date(at(1)).toISOString())

      // 38 hours after the last answer, the next peer in the ranking takes the place.
      const moved = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(38) } })
      assert.equal(moved.code, 0, moved.stderr)
      assert.match(moved.stderr, new RegExp(`${gone.name}: unreachable for over 24h`))
      assert.deepEqual(replicasOn(next, 'alice'), [snapAt(38)])
      assert.deepEqual(replicasOn(stays, 'alice'), [snapAt(0), snapAt(1), snapAt(38)])
      const seeded = join(family.base, 'seeded')
      assert.equal((await pullReplica(alice, next, `${snapAt(38)}/`, seeded)).code, 0)
      assert.deepEqual(await treeDifferences(join(alice.root, 'snapshots', snapAt(38)), seeded), [])
      const probes = history(alice).filter((e) => e.step === 'probe' && e.peer === gone.name)
      assert.deepEqual(probes.map((e) => e.result), ['offline'])
      const view = JSON.parse((await alice.famlab(['peers', '--json'], { env: { FAMLAB_NOW: at(38) } })).stdout) as PeersJson
      assert.deepEqual(view.members.find((m) => m.name === 'alice')!.placed_on, [stays.name, next.name])

      // Two copies again: the warning clears.
      const cleared = await alice.famlab(['report', '--json'], { env: { FAMLAB_NOW: at(38) } })
      assert.ok(!alertsOf(cleared.stdout, 'alice').includes('replication_factor'), cleared.stdout)
      assert.equal(JSON.parse(cleared.stdout).agreement.self.backed_up, true)
    } finally {
      await gone.startSshd()
    }

    // Back again: the probe finds it, and it takes its place back.
    const back = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(39) } })
    assert.equal(back.code, 0, back.stderr)
    assert.ok(replicasOn(gone, 'alice').includes(snapAt(39)))
    assert.ok(!replicasOn(next, 'alice').includes(snapAt(39)))
  })

  it('refuses a snapshot over the allowance (offered space / copies) before sending anything', async () => {
    // 90% of the disk for the household leaves ~100 MB offered: an allowance of ~50 MB with 2 copies.
    alice.writeConfig({ ...COPIES, capacity: { local_fraction: 0.9 } })
    assert.equal((await alice.famlab(['init'])).code, 0)
    await runChecked(['dd', 'if=/dev/urandom', `of=${join(alice.root, 'local/big.bin')}`, 'bs=1M', 'count=60', 'status=none'])
    const before = Object.fromEntries(family.nodes.map((n) => [n.name, replicasOn(n, 'alice')]))
    const refused = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(41) } })
    assert.equal(refused.code, 1, refused.stderr)
    assert.match(refused.stderr, /this node's replicas would take \d+ bytes on a holder, over its allowance of \d+ .*nothing was sent/)
    const replicate = await alice.famlab(['replicate'], { env: { FAMLAB_NOW: at(41) } })
    assert.equal(replicate.code, 1, replicate.stderr)
    assert.match(replicate.stderr, /over its allowance of \d+ .*nothing was sent/)
    for (const node of family.nodes) {
      assert.deepEqual(replicasOn(node, 'alice'), before[node.name], node.name)
      assert.ok(!existsSync(join(node.root, 'replicas/alice/.incomplete')) || readdirSync(join(node.root, 'replicas/alice/.incomplete')).length === 0, `nothing half-sent to ${node.name}`)
    }
    const record = history(alice).filter((e) => e.step === 'agreement').at(-1)
    assert.equal(record.result, 'refused')
    assert.ok(record.bytes > 60 * 2 ** 20)
    // The alert, and the use: what alice's replicas (every retained snapshot) take on its fullest holder.
    const report = JSON.parse((await alice.famlab(['report', '--json'], { env: { FAMLAB_NOW: at(41) } })).stdout)
    assert.ok(report.alerts.some((a: { kind: string; node: string; message: string }) => a.kind === 'storage_full' && a.node === 'alice' && /over its allowance/.test(a.message)), JSON.stringify(report.alerts))
    const held = report.agreement.self.on_peers.map((p: { bytes: number | null }) => p.bytes ?? 0)
    assert.equal(report.agreement.self.allowance.used_bytes, Math.max(...held))
    assert.ok(report.agreement.self.allowance.used_bytes > 0)
  })

  it('records each membership change in events.jsonl', () => {
    const events = readFileSync(join(alice.state, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    assert.deepEqual(events.map((e) => [e.kind, e.message.replace(/^member list version \d+: /, '')]), [
      ['membership_changed', 'joined: bob'], ['membership_changed', 'joined: carol'], ['membership_changed', 'joined: dave'],
    ])
  })

  it('scrub finds a block that no longer matches its checksum', async () => {
    const dave = family.node('dave')
    assert.equal((await dave.famlab(['scrub'])).code, 0)
    writeFileSync(join(dave.root, 'local/precious.txt'), 'FAMLAB-SCRUB-MARK'.repeat(400))
    await runChecked(['sync'])
    const image = join(dave.dir, 'disk.img')
    const offset = Number((await runChecked(['grep', '-obUa', '-m1', 'FAMLAB-SCRUB-MARKFAMLAB-SCRUB-MARK', image])).split(':')[0])
    await runChecked(['dd', `of=${image}`, 'bs=1', `seek=${offset}`, 'conv=notrunc', 'status=none'], { input: 'XXXXXXXX' })
    const scrub = await dave.famlab(['scrub'])
    assert.equal(scrub.code, 1, scrub.stderr)
    assert.match(scrub.stderr, /errors found: csum=1, 1 uncorrectable/)
    assert.deepEqual(history(dave).filter((e) => e.step === 'scrub').map((e) => e.result), ['ok', 'failed'])

    // report: the scrub's errors are an integrity alert, btrfs's error counters a disk_errors one
    const report = await dave.famlab(['report', '--json'], { env: { FAMLAB_NOW: at(40) } })
    const kinds = alertsOf(report.stdout, 'dave')
    assert.ok(kinds.includes('integrity') && kinds.includes('disk_errors'), report.stdout)
    assert.match(JSON.parse(report.stdout).alerts.find((a: { kind: string }) => a.kind === 'disk_errors').message, /corruption_errs=1/)
  })

  it('warns when the usage trend fills a disk within warn_days, and answers the status questions', async () => {
    const carol = family.node('carol')
    // Synthetic samples: 10 days, from 100 MiB used of 1 GiB growing 60 MiB a day, ~6 days left.
    const MiB = 2 ** 20
    const samples = Array.from({ length: 10 }, (_, day) => JSON.stringify({
      time: at(40 + day * 24), run: 'synthetic', node: 'carol', step: 'usage', result: 'ok', bytes: 100 * MiB + day * 60 * MiB, total_bytes: 1024 * MiB,
    }))
    writeFileSync(join(carol.state, 'history.jsonl'), `${readFileSync(join(carol.state, 'history.jsonl'), 'utf8')}${samples.join('\n')}\n`)
    const report = await carol.famlab(['report'], { env: { FAMLAB_NOW: at(40 + 9 * 24) } })
    assert.equal(report.code, 1)
    assert.match(report.stdout, /^  storage_forecast carol: disk full in ~\d days at \+[\d.]+ MiB\/day \(2027-01-\d\d\)$/m)
    assert.match(report.stdout, /^AGREEMENT \(copies: 2\)$/m)
    assert.match(report.stdout, /^  copies go to: \w+, \w+$/m)
    assert.match(report.stdout, /^  may back up \(S \/ k\): [\d.]+ MiB; uses [\d.]+ [KM]iB; [\d.]+ MiB more allowed$/m)
    assert.match(report.stdout, /^  members: alice seen .*, carol \(here\), dave/m)
    for (const line of report.stdout.trimEnd().split('\n')) assert.ok(line.length <= 80, line)

    // Any node answers for every node: carol's trend and dave's disk errors, from their status replies.
    const everyone = JSON.parse((await alice.famlab(['report', '--json'], { env: { FAMLAB_NOW: at(40 + 9 * 24) } })).stdout)
    const node = (name: string) => everyone.agreement.nodes.find((n: { name: string }) => n.name === name)
    assert.ok(alertsOf(JSON.stringify(everyone), 'carol').includes('storage_forecast'), JSON.stringify(everyone.alerts))
    assert.ok(node('carol').forecast.days_to_full <= 14)
    assert.ok(alertsOf(JSON.stringify(everyone), 'dave').includes('disk_errors'), JSON.stringify(everyone.alerts))
    assert.ok(node('dave').disk_errors.some((e: { counter: string }) => e.counter === 'corruption_errs'))
    assert.ok(!alertsOf(JSON.stringify(everyone), 'bob').includes('disk_errors'), 'bob reported no counters: no alert')
  })

  it('queues mail sendmail refuses and delivers it exactly once when the relay is back (msmtp, a real SMTP sink)', async () => {
    const down = await startMailSink(join(family.base, 'mail-down'))
    await down.stop()
    const queue = join(alice.state, 'mail-queue')
    const queued = () => (existsSync(queue) ? readdirSync(queue).filter((f) => f.endsWith('.eml')) : [])
    const notify = await alice.famlab(['notify', 'famlab-backup.service'], { env: { HOME: down.home } })
    assert.equal(notify.code, 1)
    assert.match(notify.stderr, /\[mail\] could not send .*; queued in .*mail-queue/)
    assert.equal(queued().length, 1)
    const still = await alice.famlab(['report'], { env: { FAMLAB_NOW: at(41), HOME: down.home } })
    assert.match(still.stdout, /^MAIL: 1 queued since /m)
    assert.equal(queued().length, 1, 'a retry that fails keeps the mail')

    const up = await startMailSink(join(family.base, 'mail-up'))
    try {
      const sent = await alice.famlab(['report', '--json'], { env: { FAMLAB_NOW: at(41), HOME: up.home } })
      assert.equal(JSON.parse(sent.stdout).mail_queue.queued, 0)
      assert.deepEqual(queued(), [])
      await alice.famlab(['report'], { env: { FAMLAB_NOW: at(41), HOME: up.home } })
      assert.deepEqual(up.messages().map((m) => m.headers.subject), ['[famlab alice] famlab-backup.service failed'])
      assert.ok(history(alice).some((e) => e.step === 'mail' && e.result === 'ok' && /^queued: /.test(e.message)))
    } finally {
      await up.stop()
    }
  })

  it('leave: a member takes itself out, the others revoke its key, and it is a family of one', async () => {
    const dave = family.node('dave')
    const left = await dave.famlab(['leave'])
    assert.equal(left.code, 0, left.stderr)
    assert.match(left.stdout, /^dave left the family \(told alice, bob, carol/)
    for (const node of family.nodes.filter((n) => n !== dave)) {
      const view = JSON.parse((await node.famlab(['peers', '--json'])).stdout) as PeersJson
      assert.deepEqual(view.members.map((m) => m.name), ['alice', 'bob', 'carol'], node.name)
      assert.doesNotMatch(readFileSync(join(node.state, 'authorized_keys'), 'utf8'), /famlab:dave$/m)
    }
    const alone = JSON.parse((await dave.famlab(['peers', '--json'])).stdout) as PeersJson
    assert.deepEqual(alone.members.map((m) => m.name), ['dave'])
    assert.match(readFileSync(join(alice.state, 'events.jsonl'), 'utf8'), /"membership_changed".*left: dave/)
    // Shown in report and mailed once, for information: never an alert.
    const sink = await startMailSink(join(family.base, 'mail-events'))
    try {
      const told = await alice.famlab(['report', '--mail'], { env: { FAMLAB_NOW: at(42), HOME: sink.home } })
      assert.match(told.stdout, /^EVENTS \(for information; .*\n(  .*\n)*  .* membership_changed: member list version \d+: left: dave$/m)
      assert.doesNotMatch(told.stdout, /^  membership_changed/m, 'not in the alert list')
      await alice.famlab(['report', '--mail'], { env: { FAMLAB_NOW: at(43), HOME: sink.home } })
      const events = sink.messages().filter((m) => /family events|membership_changed/.test(m.headers.subject))
      assert.equal(events.length, 1, sink.messages().map((m) => m.headers.subject).join('\n'))
      assert.match(events[0].body, /not an alert/)
      assert.match(events[0].body, /membership_changed +member list version \d+: left: dave/)
      const json = JSON.parse((await alice.famlab(['report', '--json'], { env: { FAMLAB_NOW: at(43) } })).stdout)
      assert.equal(json.events.at(-1).kind, 'membership_changed')
      assert.ok(!json.alerts.some((a: { kind: string }) => a.kind === 'membership_changed'))
    } finally {
      await sink.stop()
    }
    assert.equal((await dave.famlab(['leave'])).code, 1, 'alone, there is nothing to leave')
  })
})
