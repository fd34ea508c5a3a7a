// What an admin (or an attacker) does to a harness node from outside famlab: reinstall it after
// a dead disk, change its sshd host key, use a stolen or old key, fingerprint everything it holds.
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run, runChecked, type Result } from '../../lib/exec.ts'
import type { Family, Node } from './family.ts'

const hostKeyFile = (node: Node) => join(node.dir, 'ssh_host_ed25519_key')

/** `ssh-ed25519 AAAA…` of a public key file. */
export const publicKey = (file: string) => readFileSync(file, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ')

/** The SHA256 fingerprint an admin reads off a box with `ssh-keygen -lf`. */
export async function fingerprint(publicKeyFile: string): Promise<string> {
  return (await runChecked(['ssh-keygen', '-lf', publicKeyFile])).split(' ')[1]
}

/** A new sshd host key, as after a reinstall of the OS or an attacker's box at the same address. */
export async function replaceHostKey(node: Node): Promise<void> {
  await node.stopSshd()
  rmSync(hostKeyFile(node), { force: true })
  rmSync(`${hostKeyFile(node)}.pub`, { force: true })
  await runChecked(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `host-${node.name}-new`, '-f', hostKeyFile(node)])
  await node.startSshd()
}

/** The disk died: a fresh filesystem, a fresh state dir, new node and host keys, `famlab init`. */
export async function reinstall(node: Node): Promise<void> {
  await node.stopSshd()
  await runChecked(['umount', node.root])
  await runChecked(['mkfs.btrfs', '-q', '-f', join(node.dir, 'disk.img')])
  await runChecked(['mount', '-o', 'loop', join(node.dir, 'disk.img'), node.root])
  rmSync(node.state, { recursive: true, force: true })
  rmSync(hostKeyFile(node), { force: true })
  rmSync(`${hostKeyFile(node)}.pub`, { force: true })
  await runChecked(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `host-${node.name}-reinstalled`, '-f', hostKeyFile(node)])
  const init = await node.famlab(['init'])
  if (!init.ok) throw new Error(`famlab init on the reinstalled ${node.name} failed: ${init.stderr}`)
  await node.startSshd()
}

/** Keeps a copy of a node's current key pair (to try it after it was revoked). */
export function copyNodeKey(family: Family, node: Node, label: string): string {
  const file = join(family.base, `${label}-key`)
  copyFileSync(join(node.state, 'id_ed25519'), file)
  copyFileSync(join(node.state, 'id_ed25519.pub'), `${file}.pub`)
  return file
}

/**
 * ssh as `node` would run it (its generated config, pinned host keys), but with another private
 * key: a stolen, revoked or made-up one. Returns the ssh command up to the destination.
 */
export function impersonate(family: Family, node: Node, keyFile: string, target: string): string[] {
  const config = readFileSync(join(node.state, 'ssh_config'), 'utf8').replace(/^(\s*IdentityFile\s+).*$/m, `$1${keyFile}`)
  const file = join(family.base, `ssh_config-${node.name}-as-${keyFile.split('/').at(-1)}`)
  writeFileSync(file, config, { mode: 0o600 })
  return ['ssh', '-F', file, `famlab-${target}`]
}

/** Invites `joiner` through `inviter` (with extra invite arguments) and runs add-peer. */
export async function joinThrough(inviter: Node, joiner: Node, inviteArgs: string[] = [], env: Record<string, string> = {}): Promise<{ token: string; joined: Result }> {
  const invite = await inviter.famlab(['invite', ...inviteArgs], { env })
  if (!invite.ok) throw new Error(`invite on ${inviter.name} failed: ${invite.stderr}`)
  const token = invite.stdout.trim().split('\n').at(-1)!
  return { token, joined: await joiner.famlab(['add-peer', token], { env }) }
}

/**
 * One hash of everything a node holds that an attack could change: the whole storage root (names,
 * modes, sizes, contents, xattrs) and the state files that decide who may do what.
 * history.jsonl and the sshd log are left out: they are where refusals get recorded.
 */
export async function fingerprintNode(node: Node): Promise<string> {
  const script = `cd "$1" && {
    find . -printf '%y %m %u %s %p -> %l\\n' | LC_ALL=C sort
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
    getfattr -R -h -d -m - . 2>/dev/null
  } | sha256sum`
  const root = (await runChecked(['bash', '-c', script, 'fingerprint', node.root])).trim()
  const stateFiles = ['peers.yaml', 'authorized_keys', 'known_hosts', 'ssh_config', 'id_ed25519.pub']
    .map((f) => join(node.state, f))
    .map((f) => `${f}:${existsSync(f) ? readFileSync(f, 'utf8') : '-'}`)
  const invites = await run(['bash', '-c', 'ls -A "$1" 2>/dev/null', 'invites', join(node.state, 'invites')])
  return `${root} ${(await runChecked(['sha256sum'], { input: stateFiles.join('\n') + invites.stdout })).split(' ')[0]}`
}

/**
 * A box that is not in the family and never serves: just enough (config, state, key, plain
 * directory as root) to run `famlab init` and `famlab add-peer` with a token it got hold of.
 */
export async function stranger(family: Family, name: string, dirName = name): Promise<Node> {
  const dir = join(family.base, dirName)
  const user = 'flit-stranger'
  if (!(await run(['getent', 'passwd', user])).ok) {
    const added = await run(['useradd', '--system', '--shell', '/bin/sh', '--home-dir', '/', '--no-create-home', user])
    if (!added.ok && !(await run(['getent', 'passwd', user])).ok) throw new Error(`useradd ${user}: ${added.stderr}`)
  }
  const node: Node = {
    ...family.nodes[0], name, user, port: 9, dir, root: join(dir, 'root'), state: join(dir, 'state'), config: join(dir, 'famlab.yaml'),
    famlab: (args, options = {}) => family.nodes[0].famlab(args, { ...options, env: { FAMLAB_CONFIG: node.config, ...options.env } }),
    startSshd: async () => { throw new Error(`${name} never serves`) },
    stopSshd: async () => {},
    writeConfig: (extra) => writeFileSync(node.config, JSON.stringify({
      node: name, root: node.root, state: node.state, listen: { host: '127.0.0.1', port: 9 },
      ssh: { user, host_key: join(dir, 'ssh_host_ed25519_key.pub') }, ...extra,
    }), { mode: 0o644 }),
  }
  await runChecked(['mkdir', '-p', '-m', '755', node.root])
  await runChecked(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `host-${name}`, '-f', join(dir, 'ssh_host_ed25519_key')])
  node.writeConfig({})
  const init = await node.famlab(['init'])
  if (!init.ok) throw new Error(`famlab init on ${name} failed: ${init.stderr}`)
  return node
}

/**
 * Puts an impostor at `node`'s address: its own sshd on the same port with another host key, but
 * the real authorized_keys and forced command, so without host-key pinning a join would go through.
 * Returns how to put the real sshd back.
 */
export async function impersonateHost(family: Family, node: Node): Promise<() => Promise<void>> {
  const dir = join(family.base, `impostor-${node.name}`)
  await runChecked(['mkdir', '-p', dir])
  await runChecked(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'impostor', '-f', join(dir, 'host_key')])
  const real = readFileSync(join(node.dir, 'sshd_config'), 'utf8')
  const config = real
    .replace(/^HostKey .*$/m, `HostKey ${join(dir, 'host_key')}`)
    .replace(/^PidFile .*$/m, `PidFile ${join(dir, 'sshd.pid')}`)
  writeFileSync(join(dir, 'sshd_config'), config)
  await node.stopSshd()
  await runChecked(['/usr/sbin/sshd', '-f', join(dir, 'sshd_config'), '-E', join(dir, 'sshd.log')])
  for (let i = 0; i < 50 && !(await run(['bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${node.port}`])).ok; i++) await new Promise((r) => setTimeout(r, 100))
  return async () => {
    const pid = Number(readFileSync(join(dir, 'sshd.pid'), 'utf8'))
    process.kill(pid, 'SIGTERM')
    for (let i = 0; i < 50; i++) {
      try {
        process.kill(pid, 0)
      } catch {
        break
      }
      await new Promise((r) => setTimeout(r, 100))
    }
    await node.startSshd()
  }
}
