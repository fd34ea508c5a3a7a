// A bare offsite target for tests: a plain sshd on 127.0.0.1 for one plain user with a shell,
// rsync and an ext4-like filesystem (the harness's /tmp) — no famlab, no forced command.
// It lives inside a family's base directory, so family.cleanup() stops its sshd too.
import { spawn } from 'node:child_process'
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run, runChecked } from '../../lib/exec.ts'
import { freePort } from './family.ts'

export type PlainTarget = {
  user: string
  port: number
  /** The directory famlab is told to use (--path). */
  data: string
  hostKey: string
  authorize(publicKeyLine: string): void
  start(): Promise<void>
  stop(): Promise<void>
}


export async function createPlainTarget(base: string, user = 'flit-plain'): Promise<PlainTarget> {
  const dir = join(base, 'plain-target')
  const data = join(dir, 'data')
  mkdirSync(data, { recursive: true })
  if (!(await run(['getent', 'passwd', user])).ok) {
    const added = await run(['useradd', '--system', '--shell', '/bin/sh', '--home-dir', '/', '--no-create-home', user])
    if (!added.ok && !(await run(['getent', 'passwd', user])).ok) throw new Error(`useradd ${user}: ${added.stderr.trim()}`)
    await runChecked(['usermod', '-p', '*', user])
  }
  await runChecked(['chown', user, data])
  await runChecked(['chmod', '755', dir])
  const keyFile = join(dir, 'ssh_host_ed25519_key')
  await runChecked(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'plain-target', '-f', keyFile])
  const authorizedKeys = join(dir, 'authorized_keys')
  writeFileSync(authorizedKeys, '', { mode: 0o644 })
  const port = await freePort()
  const config = join(dir, 'sshd_config')
  writeFileSync(config, [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${keyFile}`, `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${authorizedKeys}`, `AllowUsers ${user}`, 'UsePAM no', 'StrictModes no',
    'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PermitRootLogin no', '',
  ].join('\n'))
  const target: PlainTarget = {
    user,
    port,
    data,
    hostKey: readFileSync(`${keyFile}.pub`, 'utf8').split(' ').slice(0, 2).join(' '),
    authorize: (line) => appendFileSync(authorizedKeys, `${line.trim()}\n`),
    async start() {
      mkdirSync('/run/sshd', { recursive: true, mode: 0o755 })
      spawn('/usr/sbin/sshd', ['-D', '-f', config, '-E', join(dir, 'sshd.log')], { stdio: 'ignore' }).unref()
      for (let i = 0; i < 50; i++) {
        if ((await run(['bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`])).ok) return
        await new Promise((r) => setTimeout(r, 100))
      }
      throw new Error(`the plain target's sshd did not start on port ${port}`)
    },
    async stop() {
      const pid = Number(readFileSync(join(dir, 'sshd.pid'), 'utf8').trim())
      process.kill(pid, 'SIGTERM')
      for (let i = 0; i < 50; i++) {
        try {
          process.kill(pid, 0)
        } catch {
          return
        }
        await new Promise((r) => setTimeout(r, 100))
      }
    },
  }
  await target.start()
  return target
}
