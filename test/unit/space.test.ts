import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import type { Config } from '../../lib/config.ts'
import { diskUsage, peerSpace } from '../../lib/space.ts'

describe('what the replicas held here use', () => {
  it('is measured while status waits where that was quick, else answered from the last measurement', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'famlab-space-'))
    try {
      const config = { root: join(dir, 'root'), state: join(dir, 'state'), file: join(dir, 'missing.yaml'),
        ssh: { user: 'famlab-nobody-here' }, capacity: { local_fraction: 0.5 } } as unknown as Config
      const replica = (name: string, bytes: number) => {
        mkdirSync(join(config.root, 'replicas/alice', name), { recursive: true })
        writeFileSync(join(config.root, 'replicas/alice', name, 'photo.jpg'), Buffer.alloc(bytes, 1))
      }
      const cache = join(config.state, 'space.json')
      mkdirSync(config.state)
      replica('2026-11-23T100000Z', 64 << 10)
      const first = (await peerSpace(config))!.origins.alice
      assert.ok(first >= 64 << 10, `measured ${first}`)

      replica('2026-11-23T110000Z', 64 << 10)
      assert.ok((await peerSpace(config))!.origins.alice >= 2 * (64 << 10), 'a quick node measures again at once')

      const slow = { ...JSON.parse(readFileSync(cache, 'utf8')), seconds: 600 }
      writeFileSync(cache, JSON.stringify(slow))
      replica('2026-11-23T120000Z', 64 << 10)
      assert.equal((await peerSpace(config))!.origins.alice, slow.origins.alice, 'a slow node answers with its last measurement')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('what a tree takes on disk', () => {
  it('is du\'s total in bytes, and 0 for a tree that is not there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'famlab-du-'))
    try {
      writeFileSync(join(dir, 'photo.jpg'), Buffer.alloc(64 << 10, 1))
      const bytes = await diskUsage(dir)
      assert.ok(bytes >= 64 << 10 && bytes < 1 << 20, `du says ${bytes}`)
      assert.equal(await diskUsage(join(dir, 'gone')), 0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
