#!/usr/bin/env tsx
// famlab peers: the members of the family as this node knows them.
// Exit 0 done, 1 failed, 2 bad config.
import { runCommand } from '../lib/cli.ts'
import { placementFor } from '../lib/copies.ts'
import { runIfMain } from '../lib/exit.ts'
import { requireMembership } from '../lib/family.ts'
import { storage } from '../lib/paths.ts'
import { listSnapshots } from '../lib/snapshots.ts'

const usage = `
famlab peers [--json] [--config FILE]

Lists the members of the family as this node knows them (member list version, address,
when each joined) and the complete replicas this node holds of each.

Options:
  --json   machine-readable: {version, members: [{name, host, port, user, joined, offered_bytes,
           self, replicas, placed_on}]}; placed_on: the peers that hold that member's copies
           (family.copies), as this node computes it

Exit codes: 0 done, 1 failed, 2 bad config.
Example: famlab peers --json
`

export async function main(argv: string[]): Promise<number> {
  return runCommand(argv, { usage, boolean: ['json'] }, async (ctx, args) => {
    const membership = requireMembership(ctx.config)
    const paths = storage(ctx.config)
    const members = membership.members.map(({ name, host, port, user, joined, offered_bytes }) => ({
      name, host, port, user, joined, offered_bytes,
      self: name === ctx.config.node,
      replicas: name === ctx.config.node ? listSnapshots(paths.snapshots) : listSnapshots(paths.replicasOf(name)),
      placed_on: placementFor(ctx, membership, name).holders,
    }))
    if (args.json) {
      process.stdout.write(`${JSON.stringify({ version: membership.version, members }, null, 2)}\n`)
      return 0
    }
    process.stdout.write(`family of ${members.length}, member list version ${membership.version}\n`)
    for (const m of members) {
      const held = `${m.self ? 'snapshots here' : 'replicas held here'}: ${m.replicas.length}`
      process.stdout.write(`${m.self ? '*' : ' '} ${m.name.padEnd(16)} ${`${m.host}:${m.port}`.padEnd(22)} ${held}${m.replicas.length ? `, newest ${m.replicas.at(-1)}` : ''}\n`)
      process.stdout.write(`  ${''.padEnd(16)} copies on: ${m.placed_on.join(', ') || 'nobody yet'}\n`)
    }
    return 0
  })
}

runIfMain(import.meta.url, main)
