// report, alerts, mail and metrics on the real harness: one peer stopped, a shifted clock,
// msmtp delivering to a real SMTP sink, promtool checking the metrics.
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, statfsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { run } from '../../lib/exec.ts'
import { createFamily, type Family, type Node } from '../harness/family.ts'
import { startMailSink, type MailSink } from '../harness/mail-sink.ts'

const T0 = Date.UTC(2026, 10, 23, 10)
const at = (hours: number) => new Date(T0 + hours * 3600_000).toISOString().replace('.000', '')
const snapAt = (hours: number) => at(hours).replace(/:/g, '')
const MAILTO = 'admin@family.test'

describe('monitoring a three-node family', () => {
  let family: Family
  let alice: Node, bob: Node, carol: Node
  let sink: MailSink
  const report = async (hours: number, args: string[] = []) => {
    const result = await alice.famlab(['report', ...args], { env: { FAMLAB_NOW: at(hours), HOME: sink.home } })
    return { ...result, json: args.includes('--json') ? JSON.parse(result.stdout) : undefined }
  }

  before(async () => {
    family = await createFamily(['alice', 'bob', 'carol'], { config: { alerts: { mailto: MAILTO } } })
    ;[alice, bob, carol] = family.nodes
    sink = await startMailSink(join(family.base, 'mail'))
    for (const node of family.nodes) {
      writeFileSync(join(node.root, 'local', `${node.name}.txt`), `${node.name}'s photos\n`)
      const backup = await node.famlab(['backup'], { env: { FAMLAB_NOW: at(0) } })
      assert.equal(backup.code, 0, backup.stderr)
    }
    // Each node's own hourly report measures what its replicas use; peers learn it from serve status.
    for (const node of [bob, carol]) assert.equal((await node.famlab(['report'], { env: { FAMLAB_NOW: at(0) } })).code, 0)
  })
  after(async () => {
    await sink?.stop()
    await family?.cleanup()
  })

  it('shows the whole family, fits 80 columns, and exits 0 without alerts', async () => {
    const { code, json, stderr } = await report(1, ['--json'])
    assert.equal(code, 0, stderr)
    assert.deepEqual(json.alerts, [])
    assert.deepEqual(json.nodes.map((n: { name: string }) => n.name), ['alice', 'bob', 'carol'])
    for (const node of json.nodes) {
      assert.equal(node.reachable, true)
      assert.equal(node.last_backup.result, 'ok')
      assert.equal(node.copies.length, 2)
      for (const copy of node.copies) assert.deepEqual([copy.newest, copy.age_hours], [snapAt(0), 1])
      assert.ok(node.storage.free_bytes > 0 && node.storage.total_bytes > node.storage.free_bytes)
      assert.equal(node.storage.agreement_kept, true)
      assert.deepEqual(Object.keys(node.storage.by_origin).sort(), family.nodes.map((n) => n.name).filter((n) => n !== node.name))
    }
    const text = await report(1)
    assert.equal(text.code, 0)
    assert.match(text.stdout, /no alerts/)
    for (const line of text.stdout.split('\n')) assert.ok(line.length <= 80, `too wide: ${line}`)
  })

  it('lists peer_offline for exactly the peer whose sshd is down 25 hours after the last contact', async () => {
    await carol.stopSshd()
    try {
      // the last contact was the report at hour 1
      assert.equal((await report(24, ['--json'])).json.alerts.length, 0)
      const { code, json } = await report(26, ['--json'])
      assert.equal(code, 1)
      assert.deepEqual(json.alerts.map((a: { kind: string; node: string }) => [a.kind, a.node]), [['peer_offline', 'carol']])
      assert.equal(json.alerts[0].since, at(1).replace('Z', '.000Z'))
      const carolNode = json.nodes.find((n: { name: string }) => n.name === 'carol')
      assert.equal(carolNode.reachable, false)
      assert.match(carolNode.problem, /^offline/)
      // what carol said last is still shown
      assert.equal(carolNode.storage.by_origin.alice > 0, true)
      const text = await report(26)
      assert.match(text.stdout, /peer_offline carol: carol has not been reached for 25h/)
      for (const line of text.stdout.split('\n')) assert.ok(line.length <= 80, `too wide: ${line}`)
    } finally {
      await carol.startSshd()
    }
  })

  it('mails a new alert once, then a reminder a day later, through msmtp to a real SMTP sink', async () => {
    await carol.stopSshd()
    try {
      const first = await report(27, ['--mail'])
      assert.equal(first.code, 1, first.stderr)
      const mails = sink.messages()
      assert.equal(mails.length, 1)
      assert.equal(mails[0].headers.to, MAILTO)
      assert.match(mails[0].headers.subject, /^\[famlab alice\] peer_offline carol: carol has not been reached for 26h/)
      assert.match(mails[0].body, /alert: +peer_offline/)
      assert.match(mails[0].body, /STORAGE/)

      assert.equal((await report(28, ['--mail'])).code, 1)
      assert.equal(sink.messages().length, 1, 'no second mail for the same alert within a day')

      await report(51, ['--mail'])
      const subjects = sink.messages().map((m) => m.headers.subject)
      assert.ok(subjects.some((s) => s.startsWith('[famlab alice] still: peer_offline carol')), subjects.join('\n'))
      // 51 h after the last backup every node is stale: one mail each, once
      for (const node of ['alice', 'bob', 'carol']) assert.equal(subjects.filter((s) => s.includes(`backup_stale ${node}:`)).length, 1)
    } finally {
      await carol.startSshd()
    }
  })

  it('logs a mail it cannot send, does not crash, and sends it on the next run', async () => {
    await sink.stop()
    const failed = await alice.famlab(['notify', 'famlab-backup.service'], { env: { HOME: sink.home } })
    assert.equal(failed.code, 1)
    assert.match(failed.stderr, /\[mail\] could not send .*sendmail failed/)
    assert.doesNotMatch(failed.stderr, /unexpected|at .*\.ts:\d+/)
    const history = readFileSync(join(alice.state, 'history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    assert.equal(history.at(-1).step, 'mail')
    assert.equal(history.at(-1).result, 'failed')
  })

  it('notify mails the unit status and journal', async () => {
    sink = await startMailSink(join(family.base, 'mail2'))
    const notify = await alice.famlab(['notify', 'famlab-backup.service'], { env: { HOME: sink.home } })
    assert.equal(notify.code, 0, notify.stderr)
    const [mail] = sink.messages()
    assert.equal(sink.messages().length, 2, 'the mail queued while the relay was down went first')
    assert.equal(mail.headers.subject, '[famlab alice] famlab-backup.service failed')
    assert.equal(mail.headers.to, MAILTO)
    assert.match(mail.body, /--- systemctl status/)
    assert.match(mail.body, /--- journal of the last run/)
    assert.equal((await alice.famlab(['notify', 'bad;name'])).code, 2)
  })

  it('writes Prometheus textfile metrics that promtool accepts', async () => {
    const file = join(family.base, 'famlab.prom')
    const { code } = await report(2, ['--prometheus', file])
    assert.equal(code, 0) // back at hour 2, every peer answers and nothing is stale
    const check = await run(['promtool', 'check', 'metrics'], { input: readFileSync(file, 'utf8') })
    assert.equal(check.code, 0, check.stdout + check.stderr)
    assert.equal((check.stdout + check.stderr).trim(), '')
    const text = readFileSync(file, 'utf8')
    assert.match(text, /^famlab_peer_up\{peer="bob"\} 1$/m)
    assert.match(text, /^famlab_last_success_timestamp_seconds\{node="alice"\} \d+/m)
    assert.match(text, /^famlab_filesystem_free_bytes\{node="carol"\} \d+/m)
    assert.match(text, /^famlab_replicas_bytes\{holder="alice",origin="bob"\} \d+/m)
    assert.deepEqual(readdirSync(family.base).filter((f) => f.endsWith('.tmp')), [])
  })

  it('does not start a transfer a peer has no room for, and reports storage_full for it', async () => {
    // Leave bob about 100 MiB free, then give alice 200 MiB of new data
    const free = statfsSync(bob.root).bavail * statfsSync(bob.root).bsize
    assert.ok((await run(['fallocate', '-l', String(free - 100 * 1024 * 1024), join(bob.root, 'filler')])).ok)
    assert.ok((await run(['dd', 'if=/dev/urandom', `of=${join(alice.root, 'local/big.bin')}`, 'bs=1M', 'count=200', 'status=none'])).ok)
    const backup = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(3) } })
    assert.equal(backup.code, 1, backup.stderr)
    assert.match(backup.stderr, /\[replicate\] bob: no-space: .*needs about [\d.]+ MiB, bob has [\d.]+ MiB left/)
    assert.ok(existsSync(join(carol.root, 'replicas/alice', snapAt(3))), 'carol got it')
    assert.ok(!existsSync(join(bob.root, 'replicas/alice', snapAt(3))))
    const incomplete = join(bob.root, 'replicas/alice/.incomplete')
    assert.ok(!existsSync(incomplete) || readdirSync(incomplete).length === 0, 'nothing half-sent to bob')

    const { json } = await report(3, ['--json'])
    const kinds = json.alerts.map((a: { kind: string; node: string }) => `${a.kind} ${a.node}`)
    assert.ok(kinds.includes('storage_full bob'), kinds.join(', '))
    assert.ok(kinds.includes('backup_failed alice'), kinds.join(', '))
  })
})
