// Restore timing on a benchmark tree: `famlab restore` against a bare rsync pull of the same
// replica through the same serve, measured in the same run; the result is their ratio.
//   node --import tsx bench/restore.ts [--files 150000] [--size 4096]
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import minimist from 'minimist'
import { run } from '../lib/exec.ts'
import { createFamily } from '../test/harness/family.ts'
import { treeDifferences, writeManyFiles, writeRichTree } from '../test/harness/tree.ts'

const args = minimist(process.argv.slice(2), { default: { files: 20000, size: 4096 } })
const NOW = '2026-11-23T10:00:00Z'
const SNAP = '2026-11-23T100000Z'

async function timed(what: string, body: () => Promise<{ ok: boolean; stderr: string }>): Promise<number> {
  await run(['sync'])
  await run(['sh', '-c', 'echo 3 > /proc/sys/vm/drop_caches'])
  const start = process.hrtime.bigint()
  const result = await body()
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  if (!result.ok) throw new Error(`${what} failed: ${result.stderr}`)
  process.stderr.write(`${what}: ${seconds.toFixed(2)} s\n`)
  return seconds
}

const family = await createFamily(['alice', 'bob'], { imageSize: '4G' })
try {
  const [alice, bob] = family.nodes
  const local = join(alice.root, 'local')
  await writeRichTree(local, 'bench')
  const perDir = 1000
  for (let d = 0; d * perDir < args.files; d++) writeManyFiles(join(local, `dir-${d}`), Math.min(perDir, args.files - d * perDir), args.size)
  const backup = await alice.famlab(['backup'], { env: { FAMLAB_NOW: NOW } })
  if (backup.code !== 0) throw new Error(`backup failed: ${backup.stderr}`)

  const bare = join(family.base, 'bare')
  mkdirSync(bare)
  const bareSeconds = await timed('bare rsync pull', () =>
    run(['rsync', '-aHAXS', '--numeric-ids', '-e', `ssh -F ${join(alice.state, 'ssh_config')}`, `famlab-${bob.name}:${SNAP}/`, `${bare}/`]))
  const restored = join(family.base, 'restored')
  const restoreSeconds = await timed('famlab restore', () => alice.famlab(['restore', '--from', bob.name, '--to', restored]))
  const differences = await treeDifferences(join(alice.root, 'snapshots', SNAP), restored)

  const result = {
    time: new Date().toISOString(),
    files: args.files,
    file_size: args.size,
    bare_rsync_seconds: bareSeconds,
    restore_seconds: restoreSeconds,
    ratio: Math.round((restoreSeconds / bareSeconds) * 100) / 100,
    identical: differences.length === 0,
  }
  mkdirSync(join(import.meta.dirname, 'results'), { recursive: true })
  writeFileSync(join(import.meta.dirname, 'results', `restore-${result.time.slice(0, 19).replace(/:/g, '')}.json`), `${JSON.stringify(result, null, 2)}\n`)
  process.stdout.write(`${JSON.stringify(result)}\n`)
} finally {
  await family.cleanup()
}
