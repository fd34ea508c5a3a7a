import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseSshSpec, targetProblem } from '../../lib/targets.ts'

const good = { name: 'vps', user: 'backup', host: 'vps.example', port: 22, path: '/srv/backup', host_key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB', added: '' }

describe('bare targets', () => {
  it('reads user@host[:port]', () => {
    assert.deepEqual(parseSshSpec('backup@vps.example'), { user: 'backup', host: 'vps.example', port: 22 })
    assert.deepEqual(parseSshSpec('backup@127.0.0.1:2222'), { user: 'backup', host: '127.0.0.1', port: 2222 })
    for (const bad of ['vps.example', 'a b@host', 'backup@host:99999', 'backup@ho;st']) assert.equal(typeof parseSshSpec(bad), 'string', bad)
  })

  it('accepts only paths that need no quoting in a remote shell, and real host keys', () => {
    assert.equal(targetProblem(good), undefined)
    for (const path of ['srv/backup', '/srv/$(rm -rf ~)', '/srv/a b', '/srv/../etc', "/srv/it's"]) assert.match(targetProblem({ ...good, path }) ?? '', /path/, path)
    assert.match(targetProblem({ ...good, host_key: 'AAAA' }) ?? '', /host key/)
    assert.match(targetProblem({ ...good, name: 'Bad Name' }) ?? '', /name/)
  })
})
