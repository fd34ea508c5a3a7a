#!/usr/bin/env tsx
// famlab disk prepare DEVICE: an encrypted storage disk — LUKS2 with a root-only key file and a
// passphrase shown once, crypttab/fstab entries, btrfs, mounted at root, the famlab layout.
// Exit 0 ready, 1 failed, 2 bad arguments (a device in use or holding data without --force).
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { runCommand } from '../lib/cli.ts'
import type { Context } from '../lib/context.ts'
import { crypttabLine, fstabLine, generateKeyFile, generatePassphrase, MAPPER_NAME, signatureOf, withTableEntry } from '../lib/disk.ts'
import { run, runChecked } from '../lib/exec.ts'
import { FamlabError, runIfMain, UsageError } from '../lib/exit.ts'
import { recordStep } from '../lib/history.ts'
import { main as init } from './init.ts'

const usage = `
famlab disk prepare DEVICE [--name famlab] [--force] [--dry-run] [--etc /etc] [--iter-time MS] [--config FILE]

Turns DEVICE into this node's encrypted storage disk:
  1. LUKS2 with two keys: a random key file readable by root only
     (/etc/cryptsetup-keys.d/NAME.key, unlocks it at boot) and a passphrase printed once
     (write it down: it opens the disk on another machine, or if the key file is lost)
  2. /etc/crypttab and /etc/fstab entries (nofail: a dead disk does not stop the boot)
  3. opens it, creates btrfs, mounts it at root (from the config) and runs famlab init
Refuses a device that is mounted, and one that holds a filesystem, LUKS or a partition
table unless --force (which erases it). Run again after a failure: a LUKS device that
the key file already opens is continued, not formatted again.

Options:
  --name NAME      device-mapper name, also names the key file (default famlab)
  --force          erase a device that holds a filesystem or other data
  --dry-run        check the device and say what would be done; change nothing
  --etc DIR        where crypttab, fstab and cryptsetup-keys.d are (default /etc)
  --iter-time MS   LUKS key derivation time per unlock (cryptsetup's default: 2000)

Exit codes: 0 ready, 1 failed, 2 bad arguments, a device in use, or data without --force.
Example: famlab disk prepare /dev/sdb
`

function isMounted(device: string): boolean {
  return readFileSync('/proc/mounts', 'utf8').split('\n').some((line) => line.split(' ')[0] === device)
}

function writeTable(file: string, field: number, key: string, line: string): void {
  const current = existsSync(file) ? readFileSync(file, 'utf8') : ''
  const updated = withTableEntry(current, field, key, line)
  if (!updated.changed) return
  mkdirSync(dirname(file), { recursive: true })
  if (current) writeFileSync(`${file}.famlab-old`, current, { mode: 0o644 })
  writeFileSync(file, updated.text, { mode: 0o644 })
}

async function unlocksWith(device: string, keyFile: string): Promise<boolean> {
  return existsSync(keyFile) && (await run(['cryptsetup', 'open', '--test-passphrase', '--key-file', keyFile, device])).ok
}

async function prepare(ctx: Context, device: string, options: { name: string; force: boolean; etc: string; iterTime?: string }): Promise<number> {
  const { name, etc } = options
  const keyFile = join(etc, 'cryptsetup-keys.d', `${name}.key`)
  const iterTime = options.iterTime ? ['--iter-time', options.iterTime] : []

  // Checks: nothing is changed until all pass
  if (!existsSync(device) || !statSync(device).isBlockDevice()) throw new UsageError(`DEVICE: ${device} is not a block device`)
  if (isMounted(device)) throw new UsageError(`DEVICE: ${device} is mounted; famlab will not touch it`)
  if (!(await run(['cryptsetup', '--version'])).ok) throw new FamlabError('cryptsetup is not installed', 'apt-get install cryptsetup-bin')
  const continuing = await unlocksWith(device, keyFile)
  const signature = signatureOf((await run(['blkid', '-p', '-o', 'export', device])).stdout)
  if (!continuing) {
    if (signature && !options.force) throw new UsageError(`DEVICE: ${device} holds ${signature}; nothing was changed`, 'Pass --force to erase it.')
    if (existsSync(keyFile)) throw new UsageError(`--name: ${keyFile} exists and does not open ${device}; it may belong to another disk`, 'Choose another --name.')
  }
  if (ctx.dryRun) {
    ctx.log.warn('disk', `[dry-run] would ${continuing ? 'continue preparing' : `erase${signature ? ` ${signature} on` : ''}`} ${device}: LUKS2 (key file ${keyFile} and a passphrase), ${join(etc, 'crypttab')}, ${join(etc, 'fstab')}, btrfs at ${ctx.config.root}`)
    return 0
  }

  // LUKS2 with the boot key file and a passphrase for people, shown once
  if (!continuing) {
    mkdirSync(dirname(keyFile), { recursive: true, mode: 0o700 })
    writeFileSync(keyFile, generateKeyFile(), { mode: 0o400, flag: 'wx' })
    await runChecked(['cryptsetup', 'luksFormat', '--batch-mode', '--type', 'luks2', ...iterTime, '--key-file', keyFile, device])
    const passphrase = generatePassphrase()
    await runChecked(['cryptsetup', 'luksAddKey', ...iterTime, '--key-file', keyFile, device, '-'], { input: passphrase })
    process.stdout.write(`passphrase for ${device} (shown once; write it down and keep it away from the box):\n  ${passphrase}\n`)
    ctx.log.info('disk', `LUKS2 on ${device}, key file ${keyFile}`)
  }

  // Entries that unlock and mount it at every boot
  const uuid = (await runChecked(['cryptsetup', 'luksUUID', device])).trim()
  writeTable(join(etc, 'crypttab'), 0, name, crypttabLine(name, uuid, keyFile))
  writeTable(join(etc, 'fstab'), 1, ctx.config.root, fstabLine(name, ctx.config.root))
  ctx.log.info('disk', `${join(etc, 'crypttab')} and ${join(etc, 'fstab')} name ${name} (UUID=${uuid})`)

  // Open, btrfs, mount, layout
  const mapper = `/dev/mapper/${name}`
  if (!existsSync(mapper)) {
    const opened = await run(['cryptsetup', 'open', '--key-file', keyFile, device, name])
    if (!opened.ok) {
      throw new FamlabError(`cannot open ${device}: ${opened.stderr.trim().split('\n')[0]}`, 'the kernel needs device-mapper (dm_mod, dm_crypt); the disk and its entries are ready, run this again once it has')
    }
  }
  if (!signatureOf((await run(['blkid', '-p', '-o', 'export', mapper])).stdout)) await runChecked(['mkfs.btrfs', '-q', '-L', `famlab-${name}`, mapper])
  mkdirSync(ctx.config.root, { recursive: true })
  if (!isMounted(mapper)) await runChecked(['mount', '-o', 'noatime', mapper, ctx.config.root])
  recordStep(ctx, { step: 'disk-prepare', result: 'ok', message: `${device} as ${mapper} at ${ctx.config.root}` })
  return init(['--config', ctx.config.file])
}

export async function main(argv: string[]): Promise<number> {
  const spec = { usage, positional: [2, 2] as [number, number], string: ['name', 'etc', 'iter-time'], boolean: ['force', 'dry-run'], default: { name: 'famlab', etc: '/etc' } }
  return runCommand(argv, spec, async (ctx, args) => {
    const [action, device] = args._.map(String)
    if (action !== 'prepare') throw new UsageError(`unknown action "${action}", expected prepare`)
    if (!MAPPER_NAME.test(args.name)) throw new UsageError(`--name: "${args.name}" must match [a-z][a-z0-9_-]{0,31}`)
    if (args['iter-time'] !== undefined && !/^\d{1,6}$/.test(args['iter-time'])) throw new UsageError(`--iter-time: "${args['iter-time']}" is not a number of milliseconds`)
    if (process.getuid?.() !== 0) throw new FamlabError('disk prepare must run as root')
    return prepare(ctx, device, { name: args.name, force: args.force, etc: args.etc, iterTime: args['iter-time'] })
  })
}

runIfMain(import.meta.url, main)
