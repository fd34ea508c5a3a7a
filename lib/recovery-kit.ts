// The recovery kit: what a reinstalled node needs to take its place in the family again without
// a new invite — its own key (which every member still authorizes), the member list with the
// pinned host keys, its config and its bare targets. One YAML file, 0600, instructions on top.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import YAML from 'yaml'
import type { Context } from './context.ts'
import { UsageError } from './exit.ts'
import { keyOnly } from './keys.ts'
import { membershipProblem, normalizeMembership, type Membership } from './members.ts'
import { readStateFile, writeFileAtomic } from './state.ts'
import { loadTargets, targetProblem, type Target } from './targets.ts'

export const KIT_FORMAT = 'famlab-recovery-kit/1'

export type RecoveryKit = {
  format: typeof KIT_FORMAT
  node: string
  created: string
  config_file: string
  config: string
  env?: string
  identity: string
  identity_pub: string
  membership: Membership
  targets: Target[]
}

export function buildKit(ctx: Context, membership: Membership): RecoveryKit {
  const { config } = ctx
  const env = readStateFile(join(dirname(config.file), 'famlab.env'))
  return {
    format: KIT_FORMAT,
    node: config.node,
    created: ctx.clock.now().toISOString(),
    config_file: config.file,
    config: readFileSync(config.file, 'utf8'),
    ...(env === undefined ? {} : { env }),
    identity: readFileSync(config.ssh.identity, 'utf8'),
    identity_pub: keyOnly(readFileSync(`${config.ssh.identity}.pub`, 'utf8')),
    membership,
    targets: loadTargets(config),
  }
}

export function kitInstructions(kit: RecoveryKit): string {
  return `famlab recovery kit of node ${kit.node}, made ${kit.created}.
It holds this node's private key: keep it offline (a USB stick in a drawer), never mail it.

To bring ${kit.node} back after a new disk or a reinstall:
  1. Install Debian 12 and famlab (make install), put the storage disk at the same root.
  2. famlab rejoin --kit THIS-FILE
     (writes ${kit.config_file} from the kit if it is missing, installs the node key,
     rejoins the family — no invite needed — and tells every member the new host key)
  3. famlab restore --from PEER --to DIR   (any of: ${[...kit.membership.members.filter((m) => m.name !== kit.node).map((m) => m.name), ...kit.targets.map((t) => t.name)].join(', ') || 'no peers yet'})
`
}

export function kitText(kit: RecoveryKit): string {
  const comment = kitInstructions(kit).split('\n').map((l) => (l ? `# ${l}` : '#')).join('\n')
  return `${comment}\n${YAML.stringify(kit, { lineWidth: 0 })}`
}

/** Written beside its final name and renamed, 0600 from the first byte. */
export function writeKit(file: string, text: string): void {
  writeFileAtomic(file, text, 0o600)
}

export function readKit(file: string): RecoveryKit {
  const text = readStateFile(file)
  if (text === undefined) throw new UsageError(`--kit: ${file} does not exist`)
  let kit: RecoveryKit
  try {
    kit = YAML.parse(text)
  } catch {
    throw new UsageError(`--kit: ${file} is not valid YAML`)
  }
  const bad = (what: string) => new UsageError(`--kit: ${file}: ${what}`)
  if (kit?.format !== KIT_FORMAT) throw bad(`not a ${KIT_FORMAT} file`)
  const problem = membershipProblem(kit.membership)
  if (problem) throw bad(`membership: ${problem}`)
  kit.membership = normalizeMembership(kit.membership)
  const self = kit.membership.members.find((m) => m.name === kit.node)
  if (!self || self.key !== kit.identity_pub) throw bad(`the member list does not list ${kit.node} with the kit's key`)
  if (typeof kit.identity !== 'string' || !kit.identity.includes('OPENSSH PRIVATE KEY')) throw bad('identity is not an OpenSSH private key')
  if (typeof kit.config !== 'string') throw bad('config is missing')
  for (const t of kit.targets ?? []) if (targetProblem(t)) throw bad(`target ${t.name}: ${targetProblem(t)}`)
  return kit
}
