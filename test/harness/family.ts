// A family of N famlab nodes on this one machine, for real: one btrfs loop file, one sshd on
// 127.0.0.1 and one non-root ssh.user per node, enrolled with the real invite/add-peer.
// Everything it starts is torn down by cleanup(), and leftovers of a killed run by the next one.
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import YAML from 'yaml'
import { run, runChecked, type Result } from '../../lib/exec.ts'

const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)))
const BASE_PREFIX = 'famlab-it-'
const TMP = '/tmp'

export type RunOptions = { env?: Record<string, string>; input?: string; timeoutMs?: number }

export type Node = {
  name: string
  user: string
  port: number
  dir: string
  root: string
  state: string
  config: string
  famlab(args: string[], options?: RunOptions): Promise<Result>
  /** Starts famlab in its own process group, for tests that kill it midway. */
  spawnFamlab(args: string[], options?: RunOptions): ChildProcess
  startSshd(): Promise<void>
  stopSshd(): Promise<void>
  writeConfig(extra: Record<string, unknown>): void
}

export type Family = {
  base: string
  nodes: Node[]
  node(name: string): Node
  /** Joins nodes[1..] one by one; `via` picks the member that invites each (default: the first). */
  enroll(via?: Record<string, string>): Promise<void>
  cleanup(): Promise<void>
}

/** The code the nodes run, in a place every test account can read (the checkout may not be). */
async function publishCode(): Promise<string> {
  const code = join(TMP, `famlab-it-code-${createHash('sha256').update(REPO).digest('hex').slice(0, 8)}`)
  mkdirSync(code, { recursive: true, mode: 0o755 })
  await runChecked(['rsync', '-a', '--delete', '--exclude=.git', '--exclude=bench/results', '--exclude=demo', '--exclude=/dist', `${REPO}/`, `${code}/`])
  // Nodes run the precompiled bundle, as an installed famlab does.
  await runChecked([join(code, 'bin/bundle'), code])
  await runChecked(['chmod', '-R', 'a+rX', code])
  return code
}

/** A port nobody listens on now, on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer()
    server.once('error', fail)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => ok(port))
    })
  })
}

async function ensureAccount(user: string): Promise<void> {
  if ((await run(['getent', 'passwd', user])).ok) return
  const added = await run(['useradd', '--system', '--shell', '/bin/sh', '--home-dir', '/', '--no-create-home', user])
  // Another test process may have created it at the same moment.
  if (!added.ok && !(await run(['getent', 'passwd', user])).ok) throw new Error(`useradd ${user}: ${added.stderr.trim()}`)
  // A locked account ("!") is refused by sshd without PAM; "*" means no password but not locked.
  await runChecked(['usermod', '-p', '*', user])
}

const pidAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function stopPidFile(file: string): Promise<void> {
  if (!existsSync(file)) return
  const pid = Number(readFileSync(file, 'utf8').trim())
  if (pid > 0 && pidAlive(pid)) {
    process.kill(pid, 'SIGTERM')
    for (let i = 0; i < 50 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 100))
  }
  rmSync(file, { force: true })
}

/** Unmounts, stops sshds and removes a harness directory, even half-built. */
async function tearDown(base: string): Promise<void> {
  for (const entry of existsSync(base) ? readdirSync(base) : []) {
    for (const daemon of ['sshd', 'smbd']) await stopPidFile(join(base, entry, `${daemon}.pid`))
  }
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m?.startsWith(`${base}/`))
  for (const mount of mounts.sort().reverse()) {
    // Another run's reaper may have unmounted it meanwhile: `fuser -km` on a plain directory kills
    // every process on the filesystem that holds it (/tmp: every test run, this one included).
    if (!(await run(['mountpoint', '-q', mount])).ok) continue
    await run(['fuser', '-km', mount])
    if (!(await run(['umount', mount])).ok) await run(['umount', '-l', mount])
  }
  // Sudo rules of send mode's root receiver (famlab send-receiver enable) name the node's config.
  for (const rule of readdirSync('/etc/sudoers.d').filter((f) => f.startsWith('famlab-'))) {
    if (readFileSync(join('/etc/sudoers.d', rule), 'utf8').includes(`${base}/`)) rmSync(join('/etc/sudoers.d', rule), { force: true })
  }
  rmSync(base, { recursive: true, force: true })
}

/**
 * A run killed before its cleanup leaves mounts and sshds behind; the next run removes them.
 * `all` also removes families whose owner still runs (make demo-clean).
 */
export async function reapFamilies(all = false): Promise<number> {
  let reaped = 0
  for (const entry of readdirSync(TMP).filter((e) => e.startsWith(BASE_PREFIX) && !e.startsWith(`${BASE_PREFIX}code`))) {
    const base = join(TMP, entry)
    let owner: number, newborn: boolean
    try {
      owner = Number(existsSync(join(base, 'owner.pid')) ? readFileSync(join(base, 'owner.pid'), 'utf8') : 0)
      // A family created this instant may not have its owner.pid yet.
      newborn = !owner && Date.now() - statSync(base).mtimeMs < 60_000
    } catch (err) {
      // Another run's reaper removed it meanwhile.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw err
    }
    if (all || (!owner && !newborn) || (owner && !pidAlive(owner))) {
      await tearDown(base)
      reaped++
    }
  }
  return reaped
}

function makeNode(base: string, code: string, name: string, index: number, port: number): Node {
  const dir = join(base, name)
  const node: Node = {
    name,
    user: `flit-${index}`,
    port,
    dir,
    root: join(dir, 'root'),
    state: join(dir, 'state'),
    config: join(dir, 'famlab.yaml'),
    famlab: (args, options = {}) =>
      run([join(code, 'bin/famlab'), ...args], {
        env: { ...process.env, FAMLAB_CONFIG: node.config, ...options.env },
        input: options.input,
        timeoutMs: options.timeoutMs ?? 300_000,
      }),
    spawnFamlab: (args, options = {}) =>
      spawn(join(code, 'bin/famlab'), args, {
        env: { ...process.env, FAMLAB_CONFIG: node.config, ...options.env },
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    async startSshd() {
      mkdirSync('/run/sshd', { recursive: true, mode: 0o755 })
      const sshdConfig = join(dir, 'sshd_config')
      writeFileSync(sshdConfig, [
        `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${join(dir, 'ssh_host_ed25519_key')}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        // The second file is for benchmarks' bare rsync baseline; famlab never writes it.
        `AuthorizedKeysFile ${join(node.state, 'authorized_keys')} ${join(dir, 'bare_authorized_keys')}`,
        `AllowUsers ${node.user}`, 'UsePAM no', 'StrictModes no', 'PasswordAuthentication no',
        'KbdInteractiveAuthentication no', 'PermitRootLogin no', 'LogLevel VERBOSE', '',
      ].join('\n'))
      // -D keeps sshd our child, so we reap it and leave no zombie; the pid file lets a later run find it.
      const sshd = spawn('/usr/sbin/sshd', ['-D', '-f', sshdConfig, '-E', join(dir, 'sshd.log')], { stdio: 'ignore' })
      sshd.unref()
      for (let i = 0; i < 50; i++) {
        if ((await run(['bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`])).ok) return
        await new Promise((r) => setTimeout(r, 100))
      }
      throw new Error(`sshd of ${name} did not start on port ${port}`)
    },
    stopSshd: () => stopPidFile(join(dir, 'sshd.pid')),
    writeConfig(extra) {
      const config = {
        node: name,
        root: node.root,
        state: node.state,
        listen: { host: '127.0.0.1', port },
        ssh: { user: node.user, host_key: join(dir, 'ssh_host_ed25519_key.pub') },
        // Test files are written just before a backup: don't wait for them to age.
        timemachine: { quiet_minutes: 0 },
        ...extra,
      }
      writeFileSync(node.config, YAML.stringify(config), { mode: 0o644 })
    },
  }
  return node
}

async function buildNode(node: Node, imageSize: string, extra: Record<string, unknown>): Promise<void> {
  mkdirSync(node.root, { recursive: true, mode: 0o755 })
  await ensureAccount(node.user)
  const image = join(node.dir, 'disk.img')
  await runChecked(['truncate', '-s', imageSize, image])
  await runChecked(['mkfs.btrfs', '-q', '-f', image])
  await runChecked(['mount', '-o', 'loop', image, node.root])
  await runChecked(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `host-${node.name}`, '-f', join(node.dir, 'ssh_host_ed25519_key')])
  node.writeConfig(extra)
  const init = await node.famlab(['init'])
  if (!init.ok) throw new Error(`famlab init on ${node.name} failed: ${init.stderr}`)
  await node.startSshd()
}

export async function createFamily(
  names: string[],
  options: { enroll?: boolean; config?: Record<string, unknown>; imageSize?: string; imageSizes?: Record<string, string> } = {},
): Promise<Family> {
  if (process.getuid?.() !== 0) throw new Error('the integration harness needs root (loop mounts, sshd, accounts)')
  await reapFamilies()
  const code = await publishCode()
  const base = mkdtempSync(join(TMP, BASE_PREFIX))
  // Claimed before any await: a reaper in another test process treats an unowned family as dead.
  writeFileSync(join(base, 'owner.pid'), String(process.pid))
  await runChecked(['chmod', '755', base])
  const nodes: Node[] = []
  const family: Family = {
    base,
    nodes,
    node: (name) => {
      const found = nodes.find((n) => n.name === name)
      if (!found) throw new Error(`no node ${name}`)
      return found
    },
    async enroll(via = {}) {
      for (const joiner of nodes.slice(1)) {
        const inviter = family.node(via[joiner.name] ?? nodes[0].name)
        const invite = await inviter.famlab(['invite'])
        if (!invite.ok) throw new Error(`invite on ${inviter.name} failed: ${invite.stderr}`)
        const token = invite.stdout.trim().split('\n').at(-1)!
        const joined = await joiner.famlab(['add-peer', token])
        if (!joined.ok) throw new Error(`add-peer on ${joiner.name} failed: ${joined.stderr}`)
      }
    },
    cleanup: () => tearDown(base),
  }
  try {
    for (const [index, name] of names.entries()) {
      const node = makeNode(base, code, name, index, await freePort())
      nodes.push(node)
      await buildNode(node, options.imageSizes?.[name] ?? options.imageSize ?? '1G', options.config ?? {})
    }
    if (options.enroll !== false) await family.enroll()
  } catch (err) {
    await family.cleanup()
    throw err
  }
  return family
}

/** Reads a replica back from `holder` with `origin`'s own key, through serve, as restore does. */
export async function pullReplica(origin: Node, holder: Node, path: string, target: string): Promise<Result> {
  mkdirSync(target, { recursive: true })
  return run([
    'rsync', '-aHAX', '--numeric-ids', '-e', `ssh -F ${join(origin.state, 'ssh_config')}`,
    `famlab-${holder.name}:${path}`, `${target}/`,
  ])
}

/** A node's last replicate step, from its history. */
export function lastReplicate(node: Node): { message: string; bytes?: number } | undefined {
  const file = join(node.state, 'history.jsonl')
  if (!existsSync(file)) return undefined
  const entries = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
  return entries.findLast((e) => e.step === 'replicate')
}

/** Bytes a node's last replicate step sent. */
export const lastSent = (node: Node): number | undefined => lastReplicate(node)?.bytes
