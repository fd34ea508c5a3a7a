#!/usr/bin/env tsx
// famlab rejoin --kit FILE: a reinstalled node takes its place in the family again from its
// recovery kit, without an invite. Exit 0 rejoined, 1 failed, 2 bad kit, arguments or config.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { parseArgs } from '../lib/cli.ts'
import { createContext, type Context } from '../lib/context.ts'
import { EXIT, FamlabError, reportError, runIfMain, UsageError } from '../lib/exit.ts'
import { adoptMembership, propagateMembership, refreshSshFiles, requireMembership } from '../lib/family.ts'
import { recordStep } from '../lib/history.ts'
import {
  findMember, loadMembership, membershipDigest, mergeMemberships, normalizeMembership, peersOf, saveMembership, type Membership,
} from '../lib/members.ts'
import { readKit, type RecoveryKit } from '../lib/recovery-kit.ts'
import { requestPeer } from '../lib/ssh.ts'
import { ensureStateDir, writeStateFile } from '../lib/state.ts'
import { saveTargets } from '../lib/targets.ts'
import { main as init } from './init.ts'

const usage = `
famlab rejoin --kit FILE [--config FILE]

Brings this node back into its family from a recovery kit (famlab recovery-kit), after a
new disk or a reinstall, without a new invite: writes the config from the kit when it is
missing (at --config, $FAMLAB_CONFIG, or where it was), installs the node key that every
member still authorizes, catches up with the newest member list, prepares the storage
(famlab init), and tells every member this node's new host key or address. Then restore the data with famlab restore.

Options:
  --kit FILE   the recovery kit of this node

Exit codes: 0 rejoined, 1 failed, 2 bad kit, arguments or config.
Example: famlab rejoin --kit /media/usb/alice.famlab-kit
`

/** Asks the peers for the family's newest member list; the kit may be older. */
async function catchUp(ctx: Context, membership: Membership): Promise<Membership> {
  for (const peer of peersOf(membership, ctx.config.node)) {
    const reply = await requestPeer<Membership>(ctx, peer.name, ['peers'])
    if (reply.outcome !== 'ok') {
      ctx.log.warn('rejoin', `${reply.outcome}: ${reply.message}`, peer.name)
      continue
    }
    // Members who joined or left since the kit was made; the kit may also know something the peer missed.
    const merged = mergeMemberships(membership, normalizeMembership(reply.data))
    return membershipDigest(merged) === membershipDigest(membership) ? membership : adoptMembership(ctx, peer.name, reply.data).membership
  }
  throw new FamlabError('no member of the family could be reached; nothing was announced', 'Run famlab rejoin again when a peer is online.')
}

async function rejoin(ctx: Context, kit: RecoveryKit): Promise<number> {
  const { config } = ctx
  if (process.getuid?.() !== 0) throw new FamlabError('rejoin must run as root (it installs the node key and prepares storage)')
  const current = loadMembership(config)
  if (current && peersOf(current, config.node).length > 0 && findMember(current, config.node)?.key !== kit.identity_pub) {
    throw new FamlabError(`this node is already in a family with another key; nothing was changed`)
  }

  // The node key every member still authorizes, and the family as the kit knew it
  ensureStateDir(config, config.state)
  writeStateFile(config, config.ssh.identity, kit.identity, 0o600)
  writeStateFile(config, `${config.ssh.identity}.pub`, `${kit.identity_pub} famlab:${kit.node}\n`, 0o644)
  if (!current || current.version < kit.membership.version || peersOf(current, config.node).length === 0) saveMembership(config, kit.membership)
  if (kit.targets.length > 0) saveTargets(config, kit.targets)
  refreshSshFiles(ctx, requireMembership(config))
  const family = await catchUp(ctx, requireMembership(config))

  // Storage layout, and this node's own entry brought up to date (a reinstall has a new host key)
  const prepared = await init(['--config', config.file])
  if (prepared !== EXIT.ok) return prepared
  const updated = requireMembership(config)
  if (membershipDigest(updated) !== membershipDigest(family)) {
    const told = await propagateMembership(ctx, updated, [])
    for (const [peer, result] of Object.entries(told)) ctx.log.info('rejoin', result, peer)
  }

  recordStep(ctx, { step: 'rejoin', result: 'ok', message: `member list version ${updated.version}` })
  const peers = peersOf(updated, config.node).map((m) => m.name)
  process.stdout.write(`rejoined the family: ${updated.members.map((m) => m.name).join(', ')} (version ${updated.version})\n`)
  process.stdout.write(`restore this node's data with: famlab restore --from ${peers[0] ?? 'PEER'} --to DIR\n`)
  return EXIT.ok
}

export async function main(argv: string[]): Promise<number> {
  let verbose = false
  try {
    const args = parseArgs(argv, { usage, string: ['kit'] })
    verbose = Boolean(args.verbose)
    if (args.help) {
      process.stdout.write(`${usage.trim()}\n`)
      return EXIT.ok
    }
    if (!args.kit) throw new UsageError('--kit FILE is required')
    const kit = readKit(args.kit)
    // A fresh install has no config yet: the kit carries it (at --config, $FAMLAB_CONFIG, or where it was before).
    const configFile = createConfigFromKit(args.config, kit)
    const ctx = createContext({ config: configFile })
    if (ctx.config.node !== kit.node) throw new UsageError(`--kit: the kit is for ${kit.node}, but ${ctx.config.file} says node: ${ctx.config.node}`)
    return await rejoin(ctx, kit)
  } catch (err) {
    return reportError(err, verbose)
  }
}

function createConfigFromKit(flag: string | undefined, kit: RecoveryKit): string {
  const file = flag || process.env.FAMLAB_CONFIG || kit.config_file
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, kit.config, { mode: 0o644 })
    if (kit.env !== undefined && !existsSync(join(dirname(file), 'famlab.env'))) writeFileSync(join(dirname(file), 'famlab.env'), kit.env, { mode: 0o600 })
    process.stderr.write(`[rejoin] wrote ${file} from the kit\n`)
  }
  return file
}

runIfMain(import.meta.url, main)
