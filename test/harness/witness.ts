// Watches a family's history across faults: every complete replica must be identical to its
// source snapshot when first seen, and never change afterwards (only its holder's prune may
// remove it). Local snapshots must never change either.
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { isSnapshotName } from '../../lib/clock.ts'
import { runChecked } from '../../lib/exec.ts'
import { pullReplica, type Family, type Node } from './family.ts'
import { treeDifferences } from './tree.ts'

/** Names, types, modes, sizes, mtimes, link targets, contents and xattrs of a tree, as one hash. */
async function fingerprintTree(dir: string): Promise<string> {
  const script = `cd "$1" && {
    find . -printf '%y %m %s %T@ %p -> %l\\n' | LC_ALL=C sort
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
    getfattr -R -h -d -m - . 2>/dev/null
  } | sha256sum`
  return (await runChecked(['bash', '-c', script, 'fingerprint', dir])).trim()
}

const completeNames = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter(isSnapshotName).sort() : [])

export class Witness {
  private readonly known = new Map<string, string>()
  private pulls = 0

  constructor(private readonly family: Family) {}

  /** Returns what is wrong; an empty list means every invariant holds. */
  async check(options: { allowPrunedOn?: Node[] } = {}): Promise<string[]> {
    const problems: string[] = []
    const present = new Set<string>()
    for (const node of this.family.nodes) {
      for (const name of completeNames(join(node.root, 'snapshots'))) {
        const path = join(node.root, 'snapshots', name)
        present.add(path)
        await this.compareWithKnown(path, problems)
      }
      for (const origin of existsSync(join(node.root, 'replicas')) ? readdirSync(join(node.root, 'replicas')) : []) {
        for (const name of completeNames(join(node.root, 'replicas', origin))) {
          const path = join(node.root, 'replicas', origin, name)
          present.add(path)
          if (!this.known.has(path)) await this.compareWithSource(node, origin, name, problems)
          await this.compareWithKnown(path, problems)
        }
      }
    }
    const prunable = (options.allowPrunedOn ?? []).map((n) => `${n.root}/`)
    for (const path of this.known.keys()) {
      if (present.has(path)) continue
      if (!prunable.some((root) => path.startsWith(root))) problems.push(`${path} disappeared`)
      this.known.delete(path)
    }
    return problems
  }

  private async compareWithKnown(path: string, problems: string[]): Promise<void> {
    const fingerprint = await fingerprintTree(path)
    const before = this.known.get(path)
    if (before !== undefined && before !== fingerprint) problems.push(`${path} changed after it was complete`)
    this.known.set(path, fingerprint)
  }

  /** A new complete replica, read back through serve with the origin's key, equals the origin's snapshot. */
  private async compareWithSource(holder: Node, originName: string, name: string, problems: string[]): Promise<void> {
    const origin = this.family.nodes.find((n) => n.name === originName)
    const source = origin && join(origin.root, 'snapshots', name)
    if (!origin || !source || !existsSync(source)) return
    const target = join(this.family.base, `witness-${this.pulls++}`)
    const pulled = await pullReplica(origin, holder, `${name}/`, target)
    if (!pulled.ok) problems.push(`cannot read back ${originName}/${name} from ${holder.name}: ${pulled.stderr.trim()}`)
    else {
      const differences = await treeDifferences(source, target)
      if (differences.length) problems.push(`${holder.name} holds ${originName}/${name} differing from its source: ${differences.slice(0, 3).join(' | ')}`)
    }
    await runChecked(['rm', '-rf', target])
  }
}
