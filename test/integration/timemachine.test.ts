// The household side on the real harness: Samba and Avahi files, a real smbd on 127.0.0.1.
import assert from 'node:assert/strict'
import { type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { run } from '../../lib/exec.ts'
import { createFamily, type Family, type Node } from '../harness/family.ts'
import { startSmbd, type Smbd } from '../harness/samba.ts'

const AVAHI_DTD = '/usr/share/avahi/avahi-service.dtd'
const MEMBER = `tm${process.pid}`
const PASSWORD = 'correct horse battery'
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z')
const history = (node: Node) => readFileSync(join(node.state, 'history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))

/** What a Mac leaves in its share: Info.plist, Info.bckup, token and sparse 8 MiB bands. */
function writeSparsebundle(dir: string, bands: number): void {
  mkdirSync(join(dir, 'bands'), { recursive: true })
  const plist = '<?xml version="1.0"?><plist version="1.0"><dict><key>band-size</key><integer>8388608</integer></dict></plist>\n'
  writeFileSync(join(dir, 'Info.plist'), plist)
  writeFileSync(join(dir, 'Info.bckup'), plist)
  writeFileSync(join(dir, 'token'), '')
  for (let band = 0; band < bands; band++) {
    const file = join(dir, 'bands', band.toString(16))
    writeFileSync(file, `band ${band}`)
    truncateSync(file, 8 * 2 ** 20)
  }
}

/** Sets every mtime under `dir` (and `dir`'s) to `ms`. */
function age(dir: string, ms: number): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) age(join(dir, entry.name), ms)
    else utimesSync(join(dir, entry.name), new Date(ms), new Date(ms))
  }
  utimesSync(dir, new Date(ms), new Date(ms))
}

async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`gave up waiting for ${what}`)
}

describe('a household on a famlab node, and the capacity agreement with a peer', () => {
  let family: Family
  let alice: Node, bob: Node
  let smbd: Smbd
  let session: ChildProcess | undefined
  const famlab = (args: string[], options: { env?: Record<string, string>; input?: string } = {}) =>
    alice.famlab(args, { ...options, env: { ...smbd?.env, ...options.env } })

  before(async () => {
    family = await createFamily(['alice', 'bob'])
    ;[alice, bob] = family.nodes
    // bob keeps 95% for his household: he offers the family about 51 MiB of his 1 GiB.
    bob.writeConfig({ capacity: { local_fraction: 0.95 } })
  })
  after(async () => {
    session?.kill()
    if (smbd) await famlab(['user', 'remove', MEMBER])
    await smbd?.stop()
    await run(['userdel', MEMBER])
    await family?.cleanup()
  })

  it('writes an smb.conf that testparm accepts without a complaint', async () => {
    const generated = await alice.famlab(['smb-conf'])
    assert.equal(generated.code, 0, generated.stderr)
    const file = join(alice.dir, 'generated-smb.conf')
    writeFileSync(file, generated.stdout)
    const testparm = await run(['testparm', '-s', file])
    assert.equal(testparm.code, 0, testparm.stderr)
    const complaints = testparm.stderr.split('\n').filter((l) => /unknown|ignoring|found in service section|invalid|error/i.test(l))
    assert.deepEqual(complaints, [])
    for (const line of ['vfs objects = catia fruit streams_xattr', 'fruit:time machine = yes', 'server min protocol = SMB2', 'load printers = No']) {
      assert.ok(testparm.stdout.includes(line), `testparm shows "${line}"`)
    }
    assert.match(testparm.stdout, new RegExp(`path = ${alice.root}/local/timemachine/%U`))
    assert.match(testparm.stdout, new RegExp(`path = ${alice.root}/local/filehistory/%U`))
    assert.doesNotMatch(testparm.stdout, /guest ok = Yes|\[printers\]/)
    // The 1 GiB test disk is smaller than max_size: Time Machine gets the household's third.
    assert.match(testparm.stdout, /fruit:time machine max size = 34\dM/)
  })

  it('writes an Avahi service file that is valid per Avahi DTD', async () => {
    const generated = await alice.famlab(['avahi-service'])
    assert.equal(generated.code, 0, generated.stderr)
    const file = join(alice.dir, 'famlab.service')
    writeFileSync(file, generated.stdout)
    const lint = await run(['xmllint', '--noout', '--dtdvalid', AVAHI_DTD, file])
    assert.equal(lint.code, 0, lint.stderr)
    assert.doesNotMatch(lint.stderr, /validity|error/i)
    for (const type of ['_smb._tcp', '_device-info._tcp', '_adisk._tcp']) assert.ok(generated.stdout.includes(`<type>${type}</type>`))
  })

  it('adds a household member whom smbd lets into their Time Machine and File History shares', async () => {
    smbd = await startSmbd(alice)
    const added = await famlab(['user', 'add', MEMBER], { input: `${PASSWORD}\n` })
    assert.equal(added.code, 0, added.stderr)
    for (const share of ['timemachine', 'filehistory']) {
      const dir = join(alice.root, 'local', share, MEMBER)
      const uid = Number((await run(['id', '-u', MEMBER])).stdout.trim())
      assert.equal(statSync(dir).uid, uid)
      assert.equal(statSync(dir).mode & 0o777, 0o700)
    }
    const listed = await famlab(['user', 'list', '--json'])
    assert.deepEqual(JSON.parse(listed.stdout).map((m: { name: string }) => m.name), [MEMBER])

    const upload = join(alice.dir, 'hello.txt')
    writeFileSync(upload, 'from a Mac\n')
    const put = await smbd.smbclient(MEMBER, PASSWORD, `put ${upload} hello.txt; get hello.txt ${join(alice.dir, 'back.txt')}`)
    assert.equal(put.code, 0, put.stdout + put.stderr)
    assert.equal(readFileSync(join(alice.root, 'local/timemachine', MEMBER, 'hello.txt'), 'utf8'), 'from a Mac\n')
    assert.equal(readFileSync(join(alice.dir, 'back.txt'), 'utf8'), 'from a Mac\n')
    const pc = await smbd.smbclient(MEMBER, PASSWORD, `put ${upload} notes.txt`, 'filehistory')
    assert.equal(pc.code, 0, pc.stdout + pc.stderr)
    assert.ok(existsSync(join(alice.root, 'local/filehistory', MEMBER, 'notes.txt')))

    const wrong = await smbd.smbclient(MEMBER, 'not the password', 'ls')
    assert.notEqual(wrong.code, 0)
    assert.match(wrong.stdout + wrong.stderr, /NT_STATUS_LOGON_FAILURE/)
  })

  it('tm-idle is busy while a Mac holds a file open inside its sparsebundle, and backup gives up after wait_minutes', async () => {
    writeSparsebundle(join(alice.root, 'local/timemachine', MEMBER, 'Mac.sparsebundle'), 4)
    await run(['chown', '-R', `${MEMBER}:`, join(alice.root, 'local/timemachine', MEMBER)])
    assert.equal((await famlab(['tm-idle'])).code, 0)

    session = smbd.openSession(MEMBER, PASSWORD)
    session.stdin!.write('open Mac.sparsebundle/bands/2\n')
    await waitFor('smbstatus to list the open band', async () => (await famlab(['tm-idle'])).code === 75)
    const busy = await famlab(['tm-idle'])
    assert.match(busy.stderr, /Mac\.sparsebundle\/bands\/2 is open/)

    alice.writeConfig({ timemachine: { quiet_minutes: 0, wait_minutes: 3 } })
    const backup = await famlab(['backup'], { env: { FAMLAB_NOW: '2026-11-23T10:00:00Z' } })
    assert.equal(backup.code, 75, backup.stderr)
    assert.match(backup.stderr, /still busy after 3 minutes/)
    assert.deepEqual(readdirSync(join(alice.root, 'snapshots')), [])
    assert.equal(history(alice).at(-1).result, 'busy')

    session.stdin!.end('quit\n')
    await new Promise((r) => session!.once('exit', r))
    session = undefined
    await waitFor('smbstatus to forget the band', async () => (await famlab(['tm-idle'])).code === 0)
  })

  it('waits for files under local/ to be quiet for quiet_minutes, then snapshots', async () => {
    // The fixture's last write is in the future of every file the test wrote: FAMLAB_NOW ages it.
    const lastWrite = Date.now() + 3600_000
    age(join(alice.root, 'local/timemachine', MEMBER, 'Mac.sparsebundle'), lastWrite)
    alice.writeConfig({ timemachine: { quiet_minutes: 10, wait_minutes: 30 } })
    const after = (minutes: number) => ({ env: { FAMLAB_NOW: iso(lastWrite + minutes * 60_000) } })

    const busy = await famlab(['tm-idle'], after(4))
    assert.equal(busy.code, 75)
    assert.match(busy.stderr, /Mac\.sparsebundle.* changed 4 minutes ago/)
    assert.equal((await famlab(['tm-idle'], after(11))).code, 0)

    const backup = await famlab(['backup'], after(4))
    assert.equal(backup.code, 0, backup.stderr)
    assert.match(backup.stderr, /waiting for 10 quiet minutes/)
    const [snapshot] = readdirSync(join(alice.root, 'snapshots'))
    // Checked once a minute: the snapshot is taken in the first minute after 10 quiet ones.
    assert.equal(snapshot, iso(lastWrite + 11 * 60_000 - (lastWrite % 1000)).replace(/:/g, ''))
    assert.equal(statSync(join(alice.root, 'snapshots', snapshot, 'timemachine', MEMBER, 'Mac.sparsebundle/bands/3')).size, 8 * 2 ** 20)
  })

  it('removes a member, keeping the data when asked', async () => {
    const kept = await famlab(['user', 'remove', MEMBER, '--keep-data'])
    assert.equal(kept.code, 0, kept.stderr)
    assert.ok(existsSync(join(alice.root, 'local/timemachine', MEMBER, 'Mac.sparsebundle')))
    assert.deepEqual(JSON.parse((await famlab(['user', 'list', '--json'])).stdout), [])
    assert.equal((await smbd.smbclient(MEMBER, PASSWORD, 'ls')).code === 0, false)
    const dry = await famlab(['user', 'remove', MEMBER, '--dry-run'])
    assert.match(dry.stderr, /\[dry-run\] would delete .*timemachine/)
    assert.ok(existsSync(join(alice.root, 'local/timemachine', MEMBER)))
  })

  it('limits local/ to the household share with a btrfs qgroup', async () => {
    const shown = await run(['btrfs', 'qgroup', 'show', '-re', '--raw', '-f', join(alice.root, 'local')])
    const limit = Number(shown.stdout.split('\n').find((l) => l.startsWith('0/'))!.trim().split(/\s+/)[3])
    const total = Number((await run(['stat', '-f', '-c', '%b*%S', alice.root])).stdout.trim().split('*').reduce((a, b) => String(Number(a) * Number(b))))
    assert.equal(limit, Math.floor(total * 0.334))
  })

  it('serve status reports the space offered and used per origin; what does not fit is skipped whole with storage_full', async () => {
    const status = await run(['ssh', '-F', join(alice.state, 'ssh_config'), 'famlab-bob', 'famlab', 'status'])
    assert.equal(status.code, 0, status.stderr)
    const { space } = JSON.parse(status.stdout)
    assert.ok(space.offered_bytes > 45 * 2 ** 20 && space.offered_bytes < 55 * 2 ** 20, `offers ${space.offered_bytes}`)
    assert.ok(space.origins.alice > 0, 'the replica of alice is counted')
    assert.equal(space.used_bytes, space.origins.alice)

    writeFileSync(join(alice.root, 'local/big.bin'), Buffer.alloc(60 * 2 ** 20, 1))
    const backup = await famlab(['backup'], { env: { FAMLAB_NOW: iso(Date.now() + 2 * 3600_000) } })
    assert.equal(backup.code, 1, backup.stderr)
    assert.match(backup.stderr, /storage_full: .* needs about 6\d\.\d MiB, bob has [45]\d\.\d MiB left for the family/)
    const entry = history(alice).findLast((e) => e.step === 'replicate' && e.peer === 'bob')
    assert.equal(entry.result, 'no-space')
    assert.equal(entry.bytes, undefined)
    // Nothing half-sent: bob holds only the complete earlier replica.
    assert.deepEqual(readdirSync(join(bob.root, 'replicas/alice')).filter((n) => !n.startsWith('.')).length, 1)
    assert.ok(!existsSync(join(bob.root, 'replicas/alice/.incomplete/big.bin')))
  })
})
