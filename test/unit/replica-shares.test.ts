import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseConfig } from '../../lib/config.ts'
import { renderReplicaShares } from '../../lib/replica-shares.ts'

describe('replica shares', () => {
  const config = parseConfig('/etc/famlab/famlab.yaml', 'node: alice\nroot: /srv/famlab\n')

  it('renders one read-only share per origin, for the named user only, read as ssh.user', () => {
    const text = renderReplicaShares(config, [{ origin: 'carol', user: 'anna' }])
    assert.match(text, /^\[replica-carol\]$/m)
    assert.match(text, /^ {3}path = \/srv\/famlab\/replicas\/carol$/m)
    assert.match(text, /^ {3}valid users = anna$/m)
    assert.match(text, /^ {3}force user = famlab$/m)
    assert.match(text, /^ {3}read only = yes$/m)
  })

  it('renders no share at all when none is on', () => {
    assert.doesNotMatch(renderReplicaShares(config, []), /^\[/m)
  })
})
