// SMB beyond the live shares, on the real harness: Previous Versions (a household member lists
// and reads old versions over vfs_shadow_copy2, and cannot write into them), and a peer's
// replicas shared read-only with one relative after a disaster (share-replica).
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { run, runChecked } from '../../lib/exec.ts'
import { HOUSEHOLD_GROUP } from '../../lib/samba.ts'
import { createFamily, type Family, type Node } from '../harness/family.ts'
import { startSmbd, type Smbd } from '../harness/samba.ts'

const MEMBER = 'flit-pv'
const RELATIVE = 'flit-rel'
const PASSWORD = 'old-versions-4-all'

async function ensureSambaUser(smbConf: string, name: string): Promise<void> {
  if (!(await run(['getent', 'passwd', name])).ok) {
    await run(['useradd', '--system', '--no-create-home', '--shell', '/usr/sbin/nologin', '-G', HOUSEHOLD_GROUP, name])
  }
  await runChecked(['smbpasswd', '-c', smbConf, '-a', '-s', name], { input: `${PASSWORD}\n${PASSWORD}\n` })
}

describe('SMB beyond the live shares', () => {
  let family: Family
  let alice: Node, bob: Node
  let smbd: Smbd
  let home: string

  before(async () => {
    family = await createFamily(['alice', 'bob'])
    ;[alice, bob] = family.nodes
    await run(['groupadd', '-f', HOUSEHOLD_GROUP])
    if (!(await run(['getent', 'passwd', MEMBER])).ok) {
      await run(['useradd', '--system', '--no-create-home', '--shell', '/usr/sbin/nologin', '-G', HOUSEHOLD_GROUP, MEMBER])
    }
    home = join(alice.root, 'local/timemachine', MEMBER)
    mkdirSync(home, { recursive: true })
    writeFileSync(join(home, 'essay.txt'), 'first draft\n')
    await runChecked(['chown', '-R', MEMBER, home])
    await runChecked(['chmod', '700', home])
    for (const [hour, text] of [[10, 'second draft\n'], [11, 'final version\n']] as const) {
      const snap = await alice.famlab(['snapshot'], { env: { FAMLAB_NOW: `2026-11-23T${hour}:00:00Z` } })
      assert.equal(snap.code, 0, snap.stderr)
      writeFileSync(join(home, 'essay.txt'), text)
    }
    smbd = await startSmbd(alice)
    await ensureSambaUser(smbd.conf, MEMBER)
    await ensureSambaUser(smbd.conf, RELATIVE)
  })
  // The family's teardown stops smbd too (its pid file is in the node's directory).
  after(() => family?.cleanup())

  it('lists every snapshot of a file, newest first, and reads the old contents', async () => {
    const info = await smbd.smbclient(MEMBER, PASSWORD, 'allinfo essay.txt')
    assert.equal(info.code, 0, info.stderr)
    assert.deepEqual(info.stdout.match(/^@GMT-[\d.-]+$/gm), ['@GMT-2026.11.23-11.00.00', '@GMT-2026.11.23-10.00.00'])
    const copy = join(family.base, 'essay-at-10.txt')
    const get = await smbd.smbclient(MEMBER, PASSWORD, `get @GMT-2026.11.23-10.00.00/essay.txt ${copy}`)
    assert.equal(get.code, 0, get.stderr)
    assert.equal(readFileSync(copy, 'utf8'), 'first draft\n')
  })

  it('is read-only: neither changing an old version nor adding to a snapshot works', async () => {
    const source = join(family.base, 'tampered.txt')
    writeFileSync(source, 'tampered\n')
    for (const name of ['essay.txt', 'new.txt']) {
      const put = await smbd.smbclient(MEMBER, PASSWORD, `put ${source} @GMT-2026.11.23-10.00.00/${name}`)
      assert.match(put.stdout + put.stderr, /NT_STATUS_/, `writing ${name} into a snapshot was allowed`)
    }
    assert.equal(readFileSync(join(alice.root, 'snapshots/2026-11-23T100000Z/timemachine', MEMBER, 'essay.txt'), 'utf8'), 'first draft\n')
    assert.equal(readFileSync(join(home, 'essay.txt'), 'utf8'), 'final version\n')
  })

  it('shares a peer\'s replicas read-only with one named relative, and stops with --off', async () => {
    writeFileSync(join(bob.root, 'local/recipes.txt'), 'grandma\'s pancakes\n')
    assert.equal((await bob.famlab(['backup'], { env: { FAMLAB_NOW: '2026-11-23T10:00:00Z' } })).code, 0)
    const snap = '2026-11-23T100000Z'
    const share = await alice.famlab(['share-replica', 'bob', '--user', RELATIVE], { env: smbd.env })
    assert.equal(share.code, 0, share.stderr)
    const copy = join(family.base, 'recipes-from-replica.txt')
    const get = await smbd.smbclient(RELATIVE, PASSWORD, `get ${snap}/recipes.txt ${copy}`, 'replica-bob')
    assert.equal(get.code, 0, get.stdout + get.stderr)
    assert.equal(readFileSync(copy, 'utf8'), 'grandma\'s pancakes\n')
    const put = await smbd.smbclient(RELATIVE, PASSWORD, `put ${copy} ${snap}/planted.txt`, 'replica-bob')
    assert.match(put.stdout + put.stderr, /NT_STATUS_(ACCESS_DENIED|MEDIA_WRITE_PROTECTED)/)
    assert.ok(!existsSync(join(alice.root, 'replicas/bob', snap, 'planted.txt')))
    const stranger = await smbd.smbclient(MEMBER, PASSWORD, 'ls', 'replica-bob')
    assert.match(stranger.stdout + stranger.stderr, /NT_STATUS_ACCESS_DENIED/)

    const off = await alice.famlab(['share-replica', 'bob', '--off'], { env: smbd.env })
    assert.equal(off.code, 0, off.stderr)
    const gone = await smbd.smbclient(RELATIVE, PASSWORD, 'ls', 'replica-bob')
    assert.match(gone.stdout + gone.stderr, /NT_STATUS_BAD_NETWORK_NAME/)
  })
})
