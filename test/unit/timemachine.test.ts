import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { createClock } from '../../lib/clock.ts'
import { findChangeSince, judgeActivity, openBundleFiles } from '../../lib/timemachine.ts'

const T0 = Date.UTC(2026, 10, 23, 10)
const minutes = (n: number) => n * 60_000

describe('Time Machine activity', () => {
  it('sees only open files inside a bundle in smbstatus output', () => {
    assert.deepEqual(openBundleFiles({ timestamp: 'x' }), [])
    const status = { open_files: {
      '/srv/famlab/local/timemachine/anna/Anna’s Mac.sparsebundle/bands/1f': {},
      '/srv/famlab/local/timemachine/anna/Mac.backupbundle/token': {},
      '/srv/famlab/local/filehistory/ben/Data/notes.txt': {},
    } }
    assert.deepEqual(openBundleFiles(status).map((p) => p.split('/anna/')[1]).sort(), ['Anna’s Mac.sparsebundle/bands/1f', 'Mac.backupbundle/token'].sort())
  })

  it('is busy for an open bundle file or a recent change, idle otherwise', () => {
    const now = new Date(T0)
    assert.deepEqual(judgeActivity([], undefined, now), { idle: true })
    const open = judgeActivity(['/x/a.sparsebundle/bands/0', '/x/a.sparsebundle/token'], undefined, now)
    assert.equal(open.idle, false)
    assert.match((open as { reason: string }).reason, /bands\/0 is open \(and 1 more\)/)
    const changed = judgeActivity([], { path: '/x/f', mtimeMs: T0 - minutes(3) }, now)
    assert.deepEqual(changed, { idle: false, reason: '/x/f changed 3 minutes ago' })
  })

  it('finds a change deep in a tree, and none in a quiet one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'famlab-tm-'))
    try {
      const bands = join(dir, 'timemachine/anna/Mac.sparsebundle/bands')
      mkdirSync(bands, { recursive: true })
      writeFileSync(join(bands, '0'), '')
      const age = (path: string, ms: number) => utimesSync(path, new Date(ms), new Date(ms))
      for (const p of [join(bands, '0'), bands, join(bands, '..'), join(dir, 'timemachine/anna'), join(dir, 'timemachine')]) age(p, T0 - minutes(30))
      assert.equal(findChangeSince(dir, T0 - minutes(10)), undefined)
      age(join(bands, '0'), T0 - minutes(2))
      assert.equal(findChangeSince(dir, T0 - minutes(10))?.path, join(bands, '0'))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('a FAMLAB_NOW clock moves forward on sleep instead of waiting', async () => {
    const clock = createClock({ FAMLAB_NOW: '2026-11-23T10:00:00Z' })
    await clock.sleep(minutes(5))
    assert.equal(clock.now().toISOString(), '2026-11-23T10:05:00.000Z')
  })
})
