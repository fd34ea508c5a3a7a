import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseConfig } from '../../lib/config.ts'
import { ConfigError } from '../../lib/exit.ts'
import { classifySourceSync } from '../../lib/sources.ts'

const FILE = '/etc/famlab/famlab.yaml'
const withSources = (yaml: string) => parseConfig(FILE, `node: alice\nroot: /srv/famlab\nsources: ${yaml}\n`)

describe('sources in the config', () => {
  it('names a plain path by its last component, and takes an explicit name', () => {
    const config = withSources('[/home, {name: photos, path: /srv/pictures/}]')
    assert.deepEqual(config.sources, [{ name: 'home', path: '/home' }, { name: 'photos', path: '/srv/pictures' }])
    assert.deepEqual(parseConfig(FILE, 'node: a\nroot: /r\n').sources, [])
  })

  it('refuses a bad entry, naming it', () => {
    const cases: [string, RegExp][] = [
      ['/home', /sources must be a list of directories/],
      ['[home]', /sources entry 1 \("home"\) needs an absolute path/],
      ['[/home, /srv/x/home]', /sources entry 2 .* the name "home" is used twice/],
      ['[/]', /sources entry 1 \("\/"\) needs a name/],
      ['[{path: /a, name: a, exclude: b}]', /sources entry 1 .* unknown keys exclude/],
    ]
    for (const [yaml, expected] of cases) {
      assert.throws(() => withSources(yaml), (err: unknown) => err instanceof ConfigError && expected.test(err.message) && err.message.startsWith(`${FILE}: sources`), yaml)
    }
  })
})

describe('copying a source', () => {
  it('treats vanished files as a warning for a live tree only', () => {
    assert.deepEqual(classifySourceSync(0, true), { ok: true })
    assert.equal(classifySourceSync(24, true).ok, true)
    assert.match((classifySourceSync(24, true) as { warning: string }).warning, /rsync 24/)
    assert.deepEqual(classifySourceSync(24, false), { ok: false })
    assert.deepEqual(classifySourceSync(23, true), { ok: false })
  })
})
