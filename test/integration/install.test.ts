// make install into a DESTDIR and into the real root; every unit passes systemd-analyze verify.
import assert from 'node:assert/strict'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, describe, it } from 'node:test'
import { run } from '../../lib/exec.ts'

const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)))
const UNITS = ['famlab-backup.service', 'famlab-backup.timer', 'famlab-report.service', 'famlab-report.timer', 'famlab-notify@.service', 'famlab-scrub.service', 'famlab-scrub.timer', 'famlab-verify.service', 'famlab-verify.timer']
// A template is verified through an instance, the one OnFailure= starts.
const VERIFIED = [...UNITS.filter((u) => !u.includes('@')), 'famlab-notify@famlab-backup.service.service']

const AUTO_UPGRADES = 'etc/apt/apt.conf.d/20auto-upgrades'
const make = (args: string[]) => run(['make', '--no-print-directory', ...args], { cwd: REPO, timeoutMs: 600_000 })

/** systemd-analyze exits 0 on warnings: anything it prints is a failure. */
async function verifyUnits(root?: string): Promise<void> {
  for (const unit of VERIFIED) {
    const result = await run(['systemd-analyze', 'verify', ...(root ? [`--root=${root}`] : []), `/etc/systemd/system/${unit}`])
    assert.equal(result.stdout + result.stderr, '', `${unit}`)
    assert.equal(result.code, 0, unit)
  }
}

describe('make install', () => {
  const dest = mkdtempSync('/tmp/famlab-install-')
  after(() => rmSync(dest, { recursive: true, force: true }))

  it('stages everything under DESTDIR, keeps an existing config, and uninstalls the code only', async () => {
    const install = await make(['install', `DESTDIR=${dest}`])
    assert.equal(install.code, 0, install.stderr)
    assert.ok(existsSync(join(dest, 'opt/famlab/bin/famlab')))
    assert.ok(existsSync(join(dest, 'opt/famlab/node_modules/tsx')))
    assert.equal(readlinkSync(join(dest, 'usr/local/bin/famlab')), '/opt/famlab/bin/famlab')
    assert.ok(existsSync(join(dest, 'opt/famlab/etc/cron.d/famlab')))
    for (const unit of UNITS) assert.ok(existsSync(join(dest, 'etc/systemd/system', unit)), unit)
    assert.equal(readFileSync(join(dest, 'etc/famlab/famlab.yaml'), 'utf8'), readFileSync(join(REPO, 'etc/famlab.yaml.example'), 'utf8'))
    assert.equal(readFileSync(join(dest, AUTO_UPGRADES), 'utf8'), 'APT::Periodic::Update-Package-Lists "1";\nAPT::Periodic::Unattended-Upgrade "1";\n')
    assert.match(install.stdout, /unattended-upgrades: Debian security updates on \(opt out: make install UNATTENDED_UPGRADES=no\)/)

    // The second install opts out of unattended upgrades: nothing is written for them
    writeFileSync(join(dest, 'etc/famlab/famlab.yaml'), 'node: mine\nroot: /srv/famlab\n')
    rmSync(join(dest, AUTO_UPGRADES))
    const again = await make(['install', `DESTDIR=${dest}`, 'UNATTENDED_UPGRADES=no'])
    assert.equal(again.code, 0, again.stderr)
    assert.match(again.stdout, /keeping .*famlab\.yaml/)
    assert.ok(!existsSync(join(dest, AUTO_UPGRADES)))
    assert.doesNotMatch(again.stdout, /unattended-upgrades/)
    assert.equal(readFileSync(join(dest, 'etc/famlab/famlab.yaml'), 'utf8'), 'node: mine\nroot: /srv/famlab\n')

    // systemd's own units, so that dependencies (sysinit.target, timers.target) resolve in the staged root
    mkdirSync(join(dest, 'usr/lib/systemd'), { recursive: true })
    cpSync('/usr/lib/systemd/system', join(dest, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true })
    await verifyUnits(dest)

    const uninstall = await make(['uninstall', `DESTDIR=${dest}`])
    assert.equal(uninstall.code, 0, uninstall.stderr)
    assert.ok(!existsSync(join(dest, 'opt/famlab')))
    assert.ok(!existsSync(join(dest, 'usr/local/bin/famlab')))
    for (const unit of UNITS) assert.ok(!existsSync(join(dest, 'etc/systemd/system', unit)), unit)
    assert.ok(existsSync(join(dest, 'etc/famlab/famlab.yaml')), 'the config stays')
  })

  // Only where nothing is installed yet (a fresh CI machine): never replace an admin's installation.
  const installed = existsSync('/opt/famlab') || existsSync('/usr/local/bin/famlab')
  it('installs into the real root: famlab on PATH, the famlab user, units that verify', { skip: installed && 'famlab is already installed here' }, async () => {
    const configExisted = existsSync('/etc/famlab/famlab.yaml')
    // make install also writes smb.conf (keeping the machine's own aside) and the Avahi service: put them back after
    const samba = ['/etc/samba/smb.conf', '/etc/avahi/services/famlab.service'].map((file) => ({ file, before: existsSync(file) ? readFileSync(file) : undefined }))
    const sambaAsideExisted = existsSync('/etc/samba/smb.conf.before-famlab')
    const autoUpgrades = existsSync(`/${AUTO_UPGRADES}`) ? readFileSync(`/${AUTO_UPGRADES}`) : undefined
    try {
      const install = await make(['install'])
      assert.equal(install.code, 0, install.stderr)
      const help = await run(['famlab', '--help'], { env: { ...process.env, PATH: '/usr/local/bin:/usr/bin:/bin' } })
      assert.equal(help.code, 0, help.stderr)
      assert.match(help.stdout, /report/)
      assert.ok((await run(['getent', 'passwd', 'famlab'])).ok)
      assert.ok(existsSync('/etc/famlab/famlab.yaml'))
      await verifyUnits()
      const upgrades = await run(['dpkg-query', '-W', '-f=${Status}', 'unattended-upgrades'])
      assert.equal(upgrades.stdout, 'install ok installed', 'make install installs unattended-upgrades')
      assert.match(readFileSync(`/${AUTO_UPGRADES}`, 'utf8'), /^APT::Periodic::Unattended-Upgrade "1";$/m)
    } finally {
      const uninstall = await make(['uninstall'])
      assert.equal(uninstall.code, 0, uninstall.stderr)
      if (!configExisted) rmSync('/etc/famlab', { recursive: true, force: true })
      for (const { file, before } of samba) {
        if (before) writeFileSync(file, before)
        else rmSync(file, { force: true })
      }
      if (!sambaAsideExisted) rmSync('/etc/samba/smb.conf.before-famlab', { force: true })
      if (autoUpgrades) writeFileSync(`/${AUTO_UPGRADES}`, autoUpgrades)
      else rmSync(`/${AUTO_UPGRADES}`, { force: true })
    }
    assert.ok(!existsSync('/opt/famlab') && !existsSync('/etc/systemd/system/famlab-backup.service'))
  })
})
