// Security on the real harness: token misuse, host keys, key rotation, least privilege, and the
// adversarial suite — alice's real peer key against bob's real sshd, every attempt refused,
// nothing changed on any node.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { after, before, describe, it } from 'node:test'
import { run } from '../../lib/exec.ts'
import { openSshPrivateKey } from '../../lib/keys.ts'
import { decodeToken, encodeToken } from '../../lib/token.ts'
import {
  copyNodeKey, fingerprint, fingerprintNode, impersonate, impersonateHost, publicKey, replaceHostKey, stranger,
} from '../harness/admin.ts'
import { createFamily, pullReplica, type Family, type Node } from '../harness/family.ts'

const at = (hours: number) => new Date(Date.UTC(2026, 10, 23, 10) + hours * 3600_000).toISOString().replace('.000', '')
const snapAt = (hours: number) => at(hours).replace(/:/g, '')
const history = (node: Node) => readFileSync(join(node.state, 'history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
const authorized = (node: Node) => readFileSync(join(node.state, 'authorized_keys'), 'utf8')
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex')

/** Runs jobs a few at a time: each attempt is its own ssh login and serve process. */
async function inBatches<T, R>(items: T[], size: number, job: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = []
  for (let i = 0; i < items.length; i += size) results.push(...(await Promise.all(items.slice(i, i + size).map(job))))
  return results
}

describe('security', () => {
  let family: Family
  let alice: Node, bob: Node, carol: Node
  const everyNode = () => Promise.all(family.nodes.map(fingerprintNode))

  before(async () => {
    family = await createFamily(['alice', 'bob', 'carol'])
    ;[alice, bob, carol] = family.nodes
    // alice plants symlinks that point out of her replicas
    symlinkSync('/etc', join(alice.root, 'local/evil'))
    symlinkSync('../../../..', join(alice.root, 'local/up'))
    for (const node of family.nodes) {
      writeFileSync(join(node.root, 'local/letter.txt'), `from ${node.name}\n`)
      const backup = await node.famlab(['backup'], { env: { FAMLAB_NOW: at(0) } })
      assert.equal(backup.code, 0, backup.stderr)
    }
  })
  after(() => family?.cleanup())

  it('refuses truncated, mistyped, forged, expired, used and man-in-the-middle invites, changing nothing on any node', async () => {
    const eve = await stranger(family, 'eve')
    const mallory = await stranger(family, 'mallory')
    const invite = await alice.famlab(['invite', '--expires', '2h'])
    const token = invite.stdout.trim().split('\n').at(-1)!
    const decoded = decodeToken(token)
    assert.ok(typeof decoded !== 'string')
    const untouched = await everyNode()
    const tries: Array<[string, string, RegExp, number, Record<string, string>?]> = [
      ['truncated', token.slice(0, -12), /incomplete or mistyped/, 2],
      ['mistyped', token.replace(/.(?=.{30}$)/, (c) => (c === 'A' ? 'B' : 'A')), /incomplete or mistyped|damaged/, 2],
      ['not a token', 'hello', /not a famlab invite token/, 2],
      ['forged: pointed at bob', encodeToken({ ...decoded, port: bob.port, hostKey: publicKey(join(bob.dir, 'ssh_host_ed25519_key.pub')), inviter: 'bob' }), /bob did not accept this invite/, 1],
      ['forged: another key', encodeToken({ ...decoded, seed: Buffer.alloc(32, 7) }), /alice did not accept this invite/, 1],
      ['expired', token, /expired/, 1, { FAMLAB_NOW: new Date((decoded.expires + 60) * 1000).toISOString().replace('.000', '') }],
    ]
    for (const [label, text, message, code, env] of tries) {
      const result = await eve.famlab(['add-peer', text], { env })
      assert.equal(result.code, code, `${label}: ${result.stderr}`)
      assert.match(result.stderr, message, label)
      assert.doesNotMatch(result.stderr, /unexpected failure|at .*\.ts:\d+/, label)
    }

    // A man in the middle at alice's address, with alice's own keys file behind it
    const restore = await impersonateHost(family, alice)
    try {
      const mitm = await eve.famlab(['add-peer', token])
      assert.equal(mitm.code, 1, mitm.stderr)
      assert.match(mitm.stderr, /is not alice: its host key differs/)
    } finally {
      await restore()
    }
    assert.deepEqual(await everyNode(), untouched)

    // The invite was never spent by any of that: eve joins with it now, and then it is used up
    const joined = await eve.famlab(['add-peer', token])
    assert.equal(joined.code, 0, joined.stderr)
    const again = await mallory.famlab(['add-peer', token])
    assert.equal(again.code, 1)
    assert.match(again.stderr, /alice did not accept this invite: it was already used/)

    // An invite expired by the inviter's own clock is refused by the inviter, too
    const late = await alice.famlab(['invite', '--expires', '1h'], { env: { FAMLAB_NOW: '2026-01-01T00:00:00Z' } })
    const lateToken = late.stdout.trim().split('\n').at(-1)!
    const expired = await mallory.famlab(['add-peer', lateToken], { env: { FAMLAB_NOW: '2026-01-01T00:30:00Z' } })
    assert.equal(expired.code, 1)
    assert.match(expired.stderr, /already used or has expired/)
    const lateDecoded = decodeToken(lateToken)
    assert.ok(typeof lateDecoded !== 'string')
    const extended = await mallory.famlab(['add-peer', encodeToken({ ...lateDecoded, expires: lateDecoded.expires + 86400 * 365 })])
    assert.equal(extended.code, 1)
    assert.match(extended.stderr, /did not accept this invite: it was already used, has expired/)
    assert.equal(JSON.parse((await mallory.famlab(['peers', '--json'])).stdout).members.length, 1)

    // eve never serves; take her out again
    assert.equal((await alice.famlab(['remove-peer', 'eve'])).code, 0)
  })

  it('refuses a member whose host key changed, records it for report, and only an explicit repin accepts it', async () => {
    const knownBefore = readFileSync(join(alice.state, 'known_hosts'), 'utf8')
    await replaceHostKey(bob)
    const refused = await alice.famlab(['replicate', '--peer', 'bob'])
    assert.equal(refused.code, 1, refused.stderr)
    assert.match(refused.stderr, /host key of bob .* is not the pinned/)
    assert.equal(readFileSync(join(alice.state, 'known_hosts'), 'utf8'), knownBefore, 'never re-pinned silently')
    const entry = history(alice).findLast((e) => e.step === 'host-key')
    assert.equal(entry.peer, 'bob')
    assert.equal(entry.result, 'refused')
    const refusals = JSON.parse(readFileSync(join(alice.state, 'host-key-refusals.json'), 'utf8'))
    assert.equal(refusals.bob.count, 1)

    const newPrint = await fingerprint(join(bob.dir, 'ssh_host_ed25519_key.pub'))
    const wrong = await alice.famlab(['repin', 'bob', '--fingerprint', await fingerprint(join(carol.dir, 'ssh_host_ed25519_key.pub'))])
    assert.equal(wrong.code, 1)
    assert.match(wrong.stderr, /presents SHA256:.*nothing was changed/)
    assert.equal(readFileSync(join(alice.state, 'known_hosts'), 'utf8'), knownBefore)
    assert.equal((await alice.famlab(['repin', 'bob', '--fingerprint', 'SHA256:short'])).code, 2)
    const repin = await alice.famlab(['repin', 'bob', '--fingerprint', newPrint])
    assert.equal(repin.code, 0, repin.stderr)
    const ok = await alice.famlab(['replicate', '--peer', 'bob'])
    assert.equal(ok.code, 0, ok.stderr)
    assert.throws(() => readFileSync(join(alice.state, 'host-key-refusals.json')))
    // carol learned the new pin with the member list
    assert.ok(readFileSync(join(carol.state, 'known_hosts'), 'utf8').includes(publicKey(join(bob.dir, 'ssh_host_ed25519_key.pub'))))
  })

  it('rotates a key: the old one stops working on every member, the new one works', async () => {
    const old = copyNodeKey(family, carol, 'carol-old')
    const rotated = await carol.famlab(['rotate-key'])
    assert.equal(rotated.code, 0, rotated.stderr)
    const fresh = publicKey(join(carol.state, 'id_ed25519.pub'))
    assert.notEqual(fresh, publicKey(`${old}.pub`))
    for (const holder of [alice, bob]) {
      assert.ok(authorized(holder).includes(fresh))
      assert.ok(!authorized(holder).includes(publicKey(`${old}.pub`)))
      const stale = await run([...impersonate(family, carol, old, holder.name), 'famlab', 'status'], { input: '' })
      assert.equal(stale.code, 255)
    }
    const backup = await carol.famlab(['backup'], { env: { FAMLAB_NOW: at(1) } })
    assert.equal(backup.code, 0, backup.stderr)
  })

  it('keeps keys and state private, runs peers as ssh.user, and refuses a world-writable root or a root ssh.user', async () => {
    for (const node of family.nodes) {
      for (const file of ['id_ed25519', 'authorized_keys', 'known_hosts', 'peers.yaml', 'ssh_config', 'history.jsonl']) {
        assert.equal(statSync(join(node.state, file)).mode & 0o077, 0, `${node.name} ${file} is private`)
      }
      assert.equal(statSync(join(node.root, 'replicas')).mode & 0o077, 0)
    }
    const uid = Number((await run(['id', '-u', bob.user])).stdout.trim())
    assert.equal(statSync(join(bob.root, 'replicas/alice', snapAt(0), 'letter.txt')).uid, uid, 'written by ssh.user, not root')

    const loose = join(family.base, 'loose-root')
    mkdirSync(loose, { mode: 0o777 })
    await run(['chmod', '0777', loose])
    bob.writeConfig({ root: loose })
    try {
      const init = await bob.famlab(['init'])
      assert.equal(init.code, 1)
      assert.match(init.stderr, /world-writable/)
      bob.writeConfig({ ssh: { user: 'root', host_key: join(bob.dir, 'ssh_host_ed25519_key.pub') } })
      const rootUser = await bob.famlab(['peers'])
      assert.equal(rootUser.code, 2)
      assert.match(rootUser.stderr, /ssh\.user/)
    } finally {
      bob.writeConfig({})
    }
  })

  it('stores planted symlinks munged and never follows them, on the next transfer or a pull', async () => {
    const passwd = sha('/etc/passwd')
    const held = join(bob.root, 'replicas/alice', snapAt(0))
    // Stored as ssh.user with --fake-super: a plain file holding the munged target, not a link at all
    assert.ok(lstatSync(join(held, 'evil')).isFile())
    assert.match(readFileSync(join(held, 'evil'), 'utf8'), /^\/rsyncd-munged\//)
    // The next snapshot has a real directory where the link was; the receiver must not go through the old link
    await run(['rm', join(alice.root, 'local/evil')])
    mkdirSync(join(alice.root, 'local/evil'))
    writeFileSync(join(alice.root, 'local/evil/passwd'), 'mine\n')
    const backup = await alice.famlab(['backup'], { env: { FAMLAB_NOW: at(2) } })
    assert.equal(backup.code, 0, backup.stderr)
    assert.equal(readFileSync(join(bob.root, 'replicas/alice', snapAt(2), 'evil/passwd'), 'utf8'), 'mine\n')
    assert.equal(sha('/etc/passwd'), passwd)
    // A pull through the planted link is refused; a pull of the tree gives the link back as a link
    for (const path of [`${snapAt(0)}/evil/`, `${snapAt(0)}/evil/passwd`, `${snapAt(0)}/up/`]) {
      const through = await pullReplica(alice, bob, path, join(family.base, 'pull-through'))
      assert.notEqual(through.code, 0, path)
    }
    const whole = join(family.base, 'pull-whole')
    assert.equal((await pullReplica(alice, bob, `${snapAt(0)}/`, whole)).code, 0)
    assert.ok(lstatSync(join(whole, 'evil')).isSymbolicLink())
    assert.equal(readlinkSync(join(whole, 'evil')), '/etc')
  })

  it('keeps complete replicas append-only: a resumed --inplace write into .incomplete leaves history untouched', async () => {
    const older = join(bob.root, 'replicas/alice', snapAt(2), 'letter.txt')
    const before = await fingerprintNode(bob)
    const statBefore = (await run(['getfattr', '--only-values', '-n', 'user.rsync.%stat', older])).stdout
    // Twice into .incomplete with --inplace and a changed mode: the second write finds hard links
    const source = join(family.base, 'inplace-source')
    await run(['rsync', '-a', `${join(alice.root, 'snapshots', snapAt(2))}/`, `${source}/`])
    await run(['chmod', '0600', join(source, 'letter.txt')])
    const ssh = `ssh -F ${join(alice.state, 'ssh_config')}`
    for (let i = 0; i < 2; i++) {
      const push = await run(['rsync', '-aHAXS', '--numeric-ids', '--inplace', '--no-whole-file', '-e', ssh, `${source}/`, 'famlab-bob:.incomplete/'])
      assert.equal(push.code, 0, push.stderr)
    }
    assert.equal((await run(['getfattr', '--only-values', '-n', 'user.rsync.%stat', older])).stdout, statBefore)
    assert.notEqual(await fingerprintNode(bob), before, 'the writes did land in .incomplete')
    await run(['rm', '-rf', join(bob.root, 'replicas/alice/.incomplete'), join(bob.root, 'replicas/alice/.resume')])
    assert.equal(await fingerprintNode(bob), before)
  })

  it('refuses every attempt of the adversarial suite with alice\'s real key against bob\'s sshd, and nothing changes', async () => {
    const snap = snapAt(0)
    const asAlice = ['ssh', '-F', join(alice.state, 'ssh_config'), 'famlab-bob']
    const fromInvite = await alice.famlab(['invite', '--expires', '1h'])
    const inviteToken = decodeToken(fromInvite.stdout.trim().split('\n').at(-1)!)
    assert.ok(typeof inviteToken !== 'string')
    const inviteKey = join(family.base, 'invite_key')
    writeFileSync(inviteKey, openSshPrivateKey(inviteToken.seed, 'stolen-invite'), { mode: 0o600 })
    const asInvite = impersonate(family, bob, inviteKey, 'alice')
    const oldList = (await run([...asAlice, 'famlab', 'peers'], { input: '' })).stdout
    const withoutBob = JSON.stringify({ ...JSON.parse(oldList), version: 999, members: JSON.parse(oldList).members.filter((m: { name: string }) => m.name !== 'bob') })

    const server = (path: string, ...options: string[]) => ['rsync', '--server', ...options, '-logDtpre.iLsfxCIvu', '.', path].join(' ')
    const sender = (path: string, ...options: string[]) => ['rsync', '--server', '--sender', ...options, '-logDtpre.iLsfxCIvu', '.', path].join(' ')
    type Attempt = { label: string; line: string; input?: string; via?: string[]; sshOptions?: string[] }
    const attempts: Attempt[] = []
    const add = (label: string, line: string, extra: Partial<Attempt> = {}) => attempts.push({ label, line, ...extra })

    // Shells, commands and famlab requests that are not allowed or malformed
    for (const line of [
      '', 'id', 'sh -c id', '/bin/sh -i', 'bash', 'cat /etc/passwd', 'ls ..', 'famlab', 'famlab serve --peer carol',
      'famlab backup', 'famlab init', 'famlab remove-peer bob', 'famlab invite', 'famlab join', 'famlab status extra',
      'famlab status; id', 'famlab status && id', 'famlab status `id`', 'famlab status $(id)', 'famlab finalize',
      'famlab finalize ../carol', 'famlab finalize .incomplete', `famlab finalize ${snap}`, 'famlab finalize notasnapshot',
      'famlab finalize 2026-13-45T999999Z', `famlab finalize ${snap} extra`, 'famlab peers x', 'famlab replicas carol', 'famlab restore',
      `famlab ${'x'.repeat(5000)}`, 'famlab status\x01', 'famlab st\u00e4tus', 'rsync', 'rsync --server', 'rsync --daemon --server .',
    ]) add(`request ${JSON.stringify(line.slice(0, 30))}`, line)
    add('peers-update: not JSON', 'famlab peers-update', { input: 'not json' })
    add('peers-update: oversized', 'famlab peers-update', { input: 'x'.repeat(70_000) })
    add('peers-update: older list', 'famlab peers-update', { input: JSON.stringify({ ...JSON.parse(oldList), version: 1, removed: [] }) })
    add('peers-update: a list without bob', 'famlab peers-update', { input: withoutBob })

    // Writes anywhere but its own .incomplete
    for (const path of [
      '../carol/.incomplete/', '../carol/', `../carol/${snap}/`, '/etc/', '/tmp/', '..', '../', '.', './', `${snap}/`, snap,
      '.resume/', '.incomplete/../', '.incomplete/x/', '../../state/', `${bob.state}/`, `${bob.root}/replicas/carol/.incomplete/`,
      '~/', '~flit-1/', '.incomplete/../../carol/.incomplete/', '.incomplete/ ../carol/.incomplete/',
    ]) add(`write to ${path}`, server(path))
    // rsync options that run commands, write elsewhere, follow links or hide arguments
    const badOptions = [
      '--rsh=sh', '-esh', '--rsync-path=/bin/sh', '--log-file=/tmp/famlab-pwned', '--log-file-format=%f', '--temp-dir=/tmp',
      '--temp-dir=../carol', '-T/tmp', '--write-devices', '--copy-devices', '--link-dest=/', `--link-dest=../carol/${snap}`,
      '--copy-dest=/etc', '--compare-dest=/', '--backup', '-b', '--backup-dir=/tmp', '--suffix=x', '--partial-dir=/tmp',
      '--files-from=/etc/passwd', '--include-from=/etc/shadow', '--exclude-from=/etc/shadow', '--filter=merge_/etc/passwd',
      '--read-batch=/tmp/b', '--write-batch=/tmp/b', '--only-write-batch=/tmp/b', '--daemon', '--config=/tmp/x',
      '--no-munge-links', '--copy-links', '-L', '-k', '-K', '--copy-unsafe-links', '--keep-dirlinks', '-R', '--relative',
      '-s', '--protect-args', '--secluded-args', '--old-args', '--usermap=0:0', '--chown=0:0', '--super', '--no-fake-super',
      '--remove-source-files', '--append', '--append-verify', '--mkpath', '--out-format=%f', '--debug=ALL',
      '--timeout=99999999', '--bwlimit=1;id', '--log-format=$(id)', '--foo', '--delete-missing-args', '--chmod=777', '--max-alloc=1',
    ]
    for (const option of badOptions) add(`receiver ${option}`, server('.incomplete/', option))
    for (const option of ['--remove-source-files', '-L', '--copy-links', '--files-from=/etc/passwd', '--rsync-path=sh',
      '--log-file=/tmp/x', '-esh', '--copy-devices', '--copy-unsafe-links', '--temp-dir=/tmp']) add(`sender ${option}`, sender(`${snap}/`, option))
    // Reads of anything but its own complete replicas, or through a planted link
    for (const path of [
      `../carol/${snap}/`, `${snap}/../../carol/${snap}/`, '/etc/passwd', '/', '.', '..', '.incomplete/', '.resume/',
      `${snap}/../`, `${bob.state}/`, '~/', `${snap}/evil/`, `${snap}/evil/passwd`, `${snap}/up/`, `${snap}//letter.txt`, '*',
      `${snap}/*`, '2026-11-23T100001Z/', `${snap}/nothere`, '../../state/id_ed25519', `${snap}/ ../carol/${snap}/`,
    ]) add(`read ${path}`, sender(path))
    // A stolen invite key may only join
    for (const line of ['', 'id', 'famlab status', server('.incomplete/'), 'famlab join extra']) {
      add(`invite key: ${JSON.stringify(line.slice(0, 30))}`, line, { via: asInvite })
    }

    const untouched = await everyNode()
    const refusalsBefore = history(bob).filter((e) => e.step === 'serve' && e.result === 'refused').length
    const inviteRefusalsBefore = history(alice).filter((e) => e.step === 'serve' && e.result === 'refused').length
    const outcomes = await inBatches(attempts, 4, async (a) => {
      const via = a.via ?? asAlice
      const command = [...via.slice(0, -1), ...(a.sshOptions ?? []), via.at(-1)!, ...(a.line ? [a.line] : [])]
      const result = await run(command, { input: a.input ?? '', timeoutMs: 120_000 })
      return { ...a, result }
    })
    const allowed = outcomes.filter((o) => o.result.code === 0 || !/famlab serve: refused (alice|invite [0-9a-f]+): /.test(o.result.stderr))
    assert.deepEqual(allowed.map((o) => `${o.label}: exit ${o.result.code} ${o.result.stderr.trim().split('\n').at(-1)}`), [])

    // Every refusal by serve is on record with the peer and a reason
    const serveLevel = outcomes.filter((o) => !o.via).length
    const refusals = history(bob).filter((e) => e.step === 'serve' && e.result === 'refused').slice(refusalsBefore)
    assert.equal(refusals.length, serveLevel)
    assert.ok(refusals.every((e) => e.peer === 'alice' && typeof e.message === 'string' && e.message.length > 5))
    assert.equal(history(alice).filter((e) => e.step === 'serve' && e.result === 'refused').length - inviteRefusalsBefore, outcomes.length - serveLevel)

    // Refused by sshd itself (restrict): a terminal
    const tty = await run([...asAlice.slice(0, -1), '-tt', asAlice.at(-1)!], { input: '', timeoutMs: 60_000 })
    assert.notEqual(tty.code, 0, 'a terminal session was allowed')
    assert.equal(tty.stdout.replace(/\r/g, '').trim(), '', 'a terminal session printed something')

    // Nothing changed anywhere
    assert.deepEqual(await everyNode(), untouched)
    process.stderr.write(`# adversarial suite: ${outcomes.length + 1} attempts, all refused\n`)
  })

  it('refuses port forwarding of every kind to a member key (restrict), even when the client asks for it', async () => {
    // famlab's own ssh_config clears forwardings; an attacker's client would not
    const asAlice = ['ssh', '-F', join(alice.state, 'ssh_config'), '-o', 'ClearAllForwardings=no', '-o', 'ExitOnForwardFailure=yes']
    let reached = 0
    const listener = createServer((socket) => { reached++; socket.destroy() })
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r))
    const target = `127.0.0.1:${(listener.address() as { port: number }).port}`
    const port = () => 20000 + Math.floor(Math.random() * 12000)
    const listening = async (p: number) => (await run(['bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${p}`])).ok
    try {
      const stdio = await run([...asAlice, '-W', target, 'famlab-bob'], { input: '', timeoutMs: 30_000 })
      assert.equal(stdio.code, 255, '-W was allowed')

      // -R: refused by bob's sshd, so ssh gives up at once instead of waiting for the timeout
      const remotePort = port()
      const reverse = await run([...asAlice, '-N', '-R', `${remotePort}:${target}`, 'famlab-bob'], { input: '', timeoutMs: 30_000 })
      assert.equal(reverse.code, 255, '-R was not refused')
      assert.ok(!(await listening(remotePort)), '-R opened a port on bob')

      // -L: the client's own end comes up; what goes into it must never reach the target
      const localPort = port()
      const tunnel = spawn(asAlice[0], [...asAlice.slice(1), '-N', '-L', `${localPort}:${target}`, 'famlab-bob'], { stdio: 'ignore' })
      try {
        let up = false
        for (let i = 0; i < 100 && !up; i++) {
          await new Promise((r) => setTimeout(r, 200))
          up = (await run(['bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${localPort} && sleep 1`])).ok
        }
        assert.ok(up, 'the -L tunnel never came up on the client side')
      } finally {
        tunnel.kill()
      }
      await new Promise((r) => setTimeout(r, 500))
      assert.equal(reached, 0, 'a forwarded connection reached the target')
    } finally {
      listener.close()
    }
  })
})
