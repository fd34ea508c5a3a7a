// One real node: bad configs change nothing; prune keeps what the contract says under FAMLAB_NOW.
import assert from 'node:assert/strict'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { snapshotName } from '../../lib/clock.ts'
import { runChecked } from '../../lib/exec.ts'
import { planPrune, parsePolicy, type RetentionPolicy } from '../../lib/retention.ts'
import { createFamily, type Family, type Node } from '../harness/family.ts'

const NOW = new Date('2026-11-23T10:00:00Z')

/** Lists a directory with its entries' inode numbers: any change shows. */
const fingerprint = (dir: string): string =>
  readdirSync(dir, { recursive: true, withFileTypes: true }).map((e) => `${e.parentPath}/${e.name}`).sort().join('\n')

describe('a single node', () => {
  let family: Family
  let node: Node

  before(async () => {
    family = await createFamily(['solo'], { enroll: false })
    node = family.nodes[0]
  })
  after(() => family?.cleanup())

  it('refuses bad configs with exit 2, a one-line message naming file and field, and changes nothing', async () => {
    const good = readFileSync(node.config, 'utf8')
    const bad: [string, string, RegExp][] = [
      ['unknown key', `${good}colour: blue\n`, /colour is not a known setting/],
      ['wrong type', `${good}replication: {timeout_s: soon}\n`, /replication\.timeout_s must be an integer/],
      ['missing node', good.replace(/^node: .*$/m, ''), /node is required/],
      ['missing root', good.replace(/^root: .*$/m, ''), /root is required/],
      ['bad retention', `${good}retention: {local: "48 hours"}\n`, /retention\.local has "48"/],
    ]
    const before = fingerprint(node.state) + fingerprint(node.root)
    for (const [what, text, expected] of bad) {
      writeFileSync(node.config, text)
      for (const command of ['backup', 'init', 'invite', 'prune', 'snapshot']) {
        const result = await node.famlab([command])
        assert.equal(result.code, 2, `${what} / ${command}: ${result.stderr}`)
        assert.match(result.stderr, expected)
        assert.ok(result.stderr.startsWith(`famlab: ${node.config}: `), result.stderr)
        assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr)
      }
    }
    writeFileSync(node.config, good)
    const unreadable = await node.famlab(['backup', '--config', join(node.dir, 'missing.yaml')])
    assert.equal(unreadable.code, 2)
    assert.match(unreadable.stderr, /missing\.yaml: cannot read the config file \(no such file\)/)
    const badFlag = await node.famlab(['backup', '--colour'])
    assert.equal(badFlag.code, 2)
    assert.match(badFlag.stderr, /unknown option --colour/)
    assert.equal(fingerprint(node.state) + fingerprint(node.root), before)
  })

  it('prunes a synthetic 90-day series to exactly what the retention terms keep', async () => {
    // Four snapshots a day for 90 days, in snapshots/ and as replicas of a far-away origin.
    const names: string[] = []
    for (let h = 90 * 24; h >= 1; h -= 6) names.push(snapshotName(new Date(NOW.getTime() - h * 3600_000)))
    const replicaDir = join(node.root, 'replicas/faraway')
    mkdirSync(replicaDir, { recursive: true })
    for (const name of names) {
      await runChecked(['btrfs', '-q', 'subvolume', 'snapshot', '-r', join(node.root, 'local'), join(node.root, 'snapshots', name)])
      mkdirSync(join(replicaDir, name))
      writeFileSync(join(replicaDir, name, 'data.txt'), name)
    }
    mkdirSync(join(replicaDir, '.incomplete'))
    const env = { FAMLAB_NOW: NOW.toISOString() }

    const dry = await node.famlab(['prune', '--dry-run'], { env })
    assert.equal(dry.code, 0, dry.stderr)
    assert.equal(readdirSync(join(node.root, 'snapshots')).length, names.length)
    assert.match(dry.stdout, /^would remove /m)

    const pruned = await node.famlab(['prune'], { env })
    assert.equal(pruned.code, 0, pruned.stderr)
    const expect = (policy: string) => planPrune(names, parsePolicy(policy) as RetentionPolicy, NOW).keep
    assert.deepEqual(readdirSync(join(node.root, 'snapshots')).sort(), expect('48h 14d'))
    assert.deepEqual(readdirSync(replicaDir).sort(), ['.incomplete', ...expect('14d 8w 12m *y')])
    // By hand: the newest 48 hour-buckets holding one are the last 48 snapshots (12 days); 14d adds
    // the oldest of each of 2 earlier days.
    assert.equal(expect('48h 14d').length, 48 + 2)
    assert.ok(readdirSync(replicaDir).includes(names[0]), 'the oldest of its year stays')
    assert.ok(readdirSync(replicaDir).includes(names.at(-1)!), 'the newest stays')
  })
})
