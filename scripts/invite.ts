#!/usr/bin/env tsx
// famlab invite: prints a one-use, expiring join token as the last line of stdout.
// Exit 0 done, 1 failed, 2 bad arguments or config.
import { randomBytes } from 'node:crypto'
import { parseDuration } from '../lib/clock.ts'
import { runCommand } from '../lib/cli.ts'
import { runIfMain, UsageError } from '../lib/exit.ts'
import { findMember } from '../lib/members.ts'
import { refreshSshFiles, requireMembership, saveInvite, withMembershipLock } from '../lib/family.ts'
import { recordStep } from '../lib/history.ts'
import { keyOnly, newSeed, publicKeyLine } from '../lib/keys.ts'
import { readStateFile } from '../lib/state.ts'
import { encodeToken } from '../lib/token.ts'

const usage = `
famlab invite [--expires 24h] [--reenroll NAME] [--config FILE]

Creates a one-use invite to this node's family and prints it as the last line of stdout.
On the joining node (after famlab init), run: famlab add-peer TOKEN
The token carries this node's address and its SSH host key, which the new node pins.

Options:
  --expires DURATION   how long the invite stays valid: 30m, 24h, 7d (default 24h, at most 30d)
  --reenroll NAME      for a member reinstalled after a disk died: it joins again under the
                       same name with its new key; its old key stops working on every member

Exit codes: 0 done, 1 failed, 2 bad arguments or config.
Examples: famlab invite --expires 2h
          famlab invite --reenroll bob
`

const MAX_EXPIRY_MS = 30 * 86400_000

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage, string: ['expires', 'reenroll'], default: { expires: '24h' } }, async (ctx, args) => {
    const lifetime = parseDuration(args.expires)
    if (!lifetime || lifetime > MAX_EXPIRY_MS) throw new UsageError(`--expires: "${args.expires}" is not a duration from 1s to 30d such as 24h`)
    const { config } = ctx
    const membership = requireMembership(config)
    const reenroll: string | undefined = args.reenroll || undefined
    if (reenroll === config.node) throw new UsageError(`--reenroll: "${reenroll}" is this node; print the invite on another member`)
    if (reenroll && !findMember(membership, reenroll)) throw new UsageError(`--reenroll: "${reenroll}" is not a member of this family`, 'See famlab peers.')
    const seed = newSeed()
    const id = randomBytes(8).toString('hex')
    const expires = Math.floor((ctx.clock.now().getTime() + lifetime) / 1000)
    // sshd judges expiry-time by the real clock; famlab's own check uses FAMLAB_NOW.
    const sshExpires = Math.max(expires, Math.floor((Date.now() + lifetime) / 1000))

    withMembershipLock(config, () => {
      saveInvite(config, { id, key: publicKeyLine(seed), expires, sshExpires, created: ctx.clock.now().toISOString(), reenroll })
      refreshSshFiles(ctx, membership)
    })
    const purpose = reenroll ? ` to re-enroll ${reenroll}` : ''
    recordStep(ctx, { step: 'invite', peer: reenroll, result: 'ok', message: `invite ${id}${purpose} valid until ${new Date(expires * 1000).toISOString()}` })

    const hostKey = keyOnly(readStateFile(config.ssh.host_key) ?? '')
    const token = encodeToken({
      inviter: config.node, host: config.listen.host, port: config.listen.port, user: config.ssh.user,
      hostKey, id, seed, expires,
    })
    ctx.log.info('invite', `valid once${purpose}, until ${new Date(expires * 1000).toISOString()}; on the ${reenroll ? 'reinstalled' : 'new'} node run: famlab add-peer TOKEN`)
    if (reenroll) ctx.log.warn('invite', `when it joins, the current key of ${reenroll} stops working on every member`)
    process.stdout.write(`${token}\n`)
    return 0
  })
}

runIfMain(import.meta.url, main)
