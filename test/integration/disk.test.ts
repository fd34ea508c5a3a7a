// disk prepare on a real loop device. LUKS formatting works without device-mapper; opening the
// device (and so btrfs, mount and init inside it) needs dm_mod, which some kernels lack: then
// the command must fail cleanly after writing a disk and entries that are ready, and a run after
// the open (a second loop device standing in for the mapping) must finish btrfs, mount and layout.
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import YAML from 'yaml'
import { run, runChecked } from '../../lib/exec.ts'

const FAMLAB = resolve(fileURLToPath(new URL('../../bin/famlab', import.meta.url)))

describe('disk prepare', () => {
  let dir: string, device: string, config: string, etc: string
  let standIn: string | undefined
  const name = `famlab-it${process.pid}`
  const famlab = (args: string[]) => run([FAMLAB, ...args], { env: { ...process.env, FAMLAB_CONFIG: config } })
  const prepare = (...extra: string[]) => famlab(['disk', 'prepare', device, '--name', name, '--etc', etc, '--iter-time', '10', ...extra])
  const blkidType = async () => (await run(['blkid', '-p', '-s', 'TYPE', '-o', 'value', device])).stdout.trim()

  before(async () => {
    dir = mkdtempSync('/tmp/famlab-disk-test-')
    etc = join(dir, 'etc')
    await runChecked(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')])
    config = join(dir, 'famlab.yaml')
    writeFileSync(config, YAML.stringify({ node: 'solo', root: join(dir, 'root'), state: join(dir, 'state'), ssh: { user: 'nobody', host_key: join(dir, 'host_key.pub') } }))
    await runChecked(['truncate', '-s', '300M', join(dir, 'disk.img')])
    await runChecked(['mkfs.btrfs', '-q', join(dir, 'disk.img')])
    device = (await runChecked(['losetup', '-f', '--show', join(dir, 'disk.img')])).trim()
    await runChecked(['truncate', '-s', '200M', join(dir, 'inner.img')])
  })
  after(async () => {
    await run(['umount', join(dir, 'root')])
    await run(['cryptsetup', 'close', name])
    if (standIn) {
      rmSync(`/dev/mapper/${name}`, { force: true })
      await run(['losetup', '-d', standIn])
    }
    if (device) await run(['losetup', '-d', device])
    await run(['rm', '-rf', dir])
  })

  it('refuses a device that holds a filesystem, and a file that is no device; --dry-run changes nothing', async () => {
    const refused = await prepare()
    assert.equal(refused.code, 2, refused.stderr)
    assert.match(refused.stderr, /holds btrfs; nothing was changed.*--force/)
    const notDevice = await famlab(['disk', 'prepare', join(dir, 'disk.img'), '--etc', etc])
    assert.equal(notDevice.code, 2, notDevice.stderr)
    const dry = await prepare('--force', '--dry-run')
    assert.equal(dry.code, 0, dry.stderr)
    assert.match(dry.stderr, /\[dry-run\] would erase btrfs on/)
    assert.equal(await blkidType(), 'btrfs')
    assert.ok(!existsSync(etc))
  })

  it('with --force: LUKS2 opened by a root-only key file and by the passphrase shown once; crypttab and fstab', async () => {
    const prepared = await prepare('--force')
    const passphrase = /^ {2}([a-z2-9-]{47})$/m.exec(prepared.stdout)?.[1]
    assert.ok(passphrase, prepared.stdout)
    assert.equal(await blkidType(), 'crypto_LUKS')
    const keyFile = join(etc, 'cryptsetup-keys.d', `${name}.key`)
    assert.equal(statSync(keyFile).mode & 0o777, 0o400)
    assert.equal(statSync(keyFile).size, 64)
    assert.equal((await run(['cryptsetup', 'open', '--test-passphrase', '--key-file', keyFile, device])).code, 0)
    assert.equal((await run(['cryptsetup', 'open', '--test-passphrase', '--key-file', '-', device], { input: passphrase })).code, 0)
    assert.notEqual((await run(['cryptsetup', 'open', '--test-passphrase', '--key-file', '-', device], { input: 'not it' })).code, 0)
    const uuid = (await runChecked(['cryptsetup', 'luksUUID', device])).trim()
    assert.equal(readFileSync(join(etc, 'crypttab'), 'utf8'), `${name} UUID=${uuid} ${keyFile} luks,discard\n`)
    assert.match(readFileSync(join(etc, 'fstab'), 'utf8'), new RegExp(`^/dev/mapper/${name} ${join(dir, 'root')} btrfs \\S*nofail\\S* 0 0\\n$`))

    if (prepared.code === 0) {
      // device-mapper is there: btrfs inside, mounted at root, with the famlab layout
      assert.ok(existsSync(join(dir, 'root/local')) && existsSync(join(dir, 'root/replicas')))
    } else {
      assert.equal(prepared.code, 1)
      assert.match(prepared.stderr, /cannot open .*device-mapper/)
      // Run again once the kernel has it: the disk is continued, not formatted again
      const again = await prepare()
      assert.match(again.stderr, /cannot open/)
      assert.equal((await runChecked(['cryptsetup', 'luksUUID', device])).trim(), uuid)
      assert.doesNotMatch(again.stdout, /passphrase/)

      // What follows the open, on a stand-in: a second loop device where the opened mapping would be
      standIn = (await runChecked(['losetup', '-f', '--show', join(dir, 'inner.img')], { input: '' })).trim()
      symlinkSync(standIn, `/dev/mapper/${name}`)
      const finished = await prepare()
      assert.equal(finished.code, 0, finished.stderr)
      assert.equal((await run(['findmnt', '-n', '-o', 'FSTYPE', join(dir, 'root')])).stdout.trim(), 'btrfs')
      assert.equal((await run(['btrfs', 'subvolume', 'show', join(dir, 'root/local')])).code, 0, 'local/ is a subvolume')
      for (const sub of ['snapshots', 'replicas']) assert.ok(existsSync(join(dir, 'root', sub)), sub)
      assert.equal((await runChecked(['blkid', '-p', '-s', 'LABEL', '-o', 'value', standIn])).trim(), `famlab-${name}`)
      assert.equal((await runChecked(['cryptsetup', 'luksUUID', device])).trim(), uuid, 'the LUKS disk was not formatted again')
    }
  })
})
