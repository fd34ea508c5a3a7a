// A real smbd for one harness node: 127.0.0.1 on its own port, its own private, lock and state
// directories, serving the node's `famlab smb-conf` (never /etc/samba). famlab finds it
// through FAMLAB_SMB_CONF. Its pid is in <node>/smbd.pid, so the family's teardown stops it.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run, type Result } from '../../lib/exec.ts'
import { freePort, type Node } from './family.ts'

export type Smbd = {
  conf: string
  port: number
  env: Record<string, string>
  /** smbclient with a password, running `commands` (smbclient's -c syntax) in a share. */
  smbclient(user: string, password: string, commands: string, share?: string): Promise<Result>
  /** An interactive smbclient: write commands to its stdin; it keeps files open until `close`. */
  openSession(user: string, password: string, share?: string): ChildProcess
  stop(): Promise<void>
}


/** The test-only globals: loopback, a private port, and every Samba directory inside the node's. */
function harnessGlobals(dir: string, port: number): string {
  const sub = (name: string) => join(dir, 'samba', name)
  for (const name of ['private', 'lock', 'state', 'cache', 'pid', 'ncalrpc', 'log']) mkdirSync(sub(name), { recursive: true })
  return [
    `   smb ports = ${port}`,
    '   interfaces = 127.0.0.1',
    '   bind interfaces only = yes',
    `   private dir = ${sub('private')}`,
    `   lock directory = ${sub('lock')}`,
    `   state directory = ${sub('state')}`,
    `   cache directory = ${sub('cache')}`,
    `   pid directory = ${sub('pid')}`,
    `   ncalrpc dir = ${sub('ncalrpc')}`,
    `   log file = ${sub('log')}/log.%m`,
    '',
  ].join('\n')
}

export async function startSmbd(node: Node): Promise<Smbd> {
  const port = await freePort()
  const generated = await node.famlab(['smb-conf'])
  if (!generated.ok) throw new Error(`famlab smb-conf on ${node.name} failed: ${generated.stderr}`)
  const conf = join(node.dir, 'smb.conf')
  writeFileSync(conf, generated.stdout.replace(/^\[global\]\n/m, `[global]\n${harnessGlobals(node.dir, port)}`))

  // Its own process group: on shutdown smbd signals its whole group, which must not be ours.
  const smbd = spawn('smbd', ['--foreground', '--no-process-group', `--configfile=${conf}`], { stdio: 'ignore', detached: true })
  smbd.unref()
  writeFileSync(join(node.dir, 'smbd.pid'), String(smbd.pid))
  for (let i = 0; ; i++) {
    if ((await run(['bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`])).ok) break
    if (i === 100) throw new Error(`smbd of ${node.name} did not start on port ${port}`)
    await new Promise((r) => setTimeout(r, 100))
  }

  const target = (share: string) => [`//127.0.0.1/${share}`, '-p', String(port), '--configfile', conf]
  return {
    conf,
    port,
    env: { FAMLAB_SMB_CONF: conf },
    smbclient: (user, password, commands, share = 'timemachine') =>
      run(['smbclient', ...target(share), '-U', user, '-c', commands], { env: { ...process.env, PASSWD: password } }),
    openSession: (user, password, share = 'timemachine') =>
      spawn('smbclient', [...target(share), '-U', user], { env: { ...process.env, PASSWD: password }, stdio: ['pipe', 'pipe', 'pipe'] }),
    async stop() {
      if (smbd.exitCode !== null || smbd.signalCode !== null) return
      const exited = new Promise((r) => smbd.once('exit', r))
      smbd.ref() // keep the test process alive until smbd is gone
      smbd.kill('SIGTERM')
      await exited
    },
  }
}
