import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseConfig } from '../../lib/config.ts'
import { ConfigError } from '../../lib/exit.ts'

const FILE = '/etc/famlab/famlab.yaml'
const minimal = 'node: alice\nroot: /srv/famlab\n'

function configError(source: string): string {
  try {
    parseConfig(FILE, source)
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`)
    assert.equal(err.exitCode, 2)
    return err.message
  }
  assert.fail('the config was accepted')
}

describe('config', () => {
  it('fills the contract defaults around node and root', () => {
    const config = parseConfig(FILE, minimal)
    assert.equal(config.node, 'alice')
    assert.equal(config.state, '/var/lib/famlab')
    assert.equal(config.ssh.user, 'famlab')
    assert.equal(config.ssh.identity, '/var/lib/famlab/id_ed25519')
    assert.equal(config.ssh.authorized_keys, '/var/lib/famlab/authorized_keys')
    assert.equal(config.listen.port, 22)
    assert.equal(config.capacity.local_fraction, 0.334)
    assert.equal(config.retention.replicas.text, '14d 8w 12m *y')
    assert.equal(config.replication.mode, 'auto')
    assert.equal(config.alerts.offline_hours, 24)
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.ssh))
  })

  it('derives the key paths from a custom state directory', () => {
    const config = parseConfig(FILE, `${minimal}state: /data/famlab-state\n`)
    assert.equal(config.ssh.identity, '/data/famlab-state/id_ed25519')
  })

  it('accepts the full example from the contract', () => {
    const config = parseConfig(FILE, `
node: alice
root: /srv/famlab
listen: {host: alice.example, port: 22}
ssh:
  user: famlab
  identity: /var/lib/famlab/id_ed25519
  authorized_keys: /var/lib/famlab/authorized_keys
  host_key: /etc/ssh/ssh_host_ed25519_key.pub
state: /var/lib/famlab
capacity: {local_fraction: 0.334}
timemachine: {quiet_minutes: 10, wait_minutes: 120, max_size: 1T}
retention:
  local: "48h 14d"
  replicas: "14d 8w 12m *y"
replication: {mode: auto, bwlimit_kbps: 0, timeout_s: 600}
alerts: {offline_hours: 24, stale_hours: 36, storage_full_percent: 90, mailto: root}
`)
    assert.equal(config.listen.host, 'alice.example')
    assert.deepEqual(config.retention.local.terms, [{ count: 48, unit: 'h' }, { count: 14, unit: 'd' }])
  })

  const errors: [string, string, RegExp][] = [
    ['missing node', 'root: /srv/famlab\n', /famlab\.yaml: node is required/],
    ['missing root', 'node: alice\n', /famlab\.yaml: root is required/],
    ['unknown top-level key', `${minimal}colour: blue\n`, /colour is not a known setting/],
    ['unknown nested key', `${minimal}ssh: {usr: famlab}\n`, /ssh\.usr is not a known setting/],
    ['wrong type', `${minimal}listen: {port: "twenty-two"}\n`, /listen\.port must be an integer, got "twenty-two"/],
    ['out of range', `${minimal}alerts: {storage_full_percent: 150}\n`, /alerts\.storage_full_percent is 150, expected 1 to 100/],
    ['bad node name', 'node: Alice!\nroot: /srv\n', /node is "Alice!", expected a name/],
    ['relative root', 'node: alice\nroot: srv/famlab\n', /root must be an absolute path/],
    ['bad retention term', `${minimal}retention: {local: "48x"}\n`, /retention\.local has "48x", expected terms like/],
    ['zero retention count', `${minimal}retention: {replicas: "0d"}\n`, /retention\.replicas has "0d": a count must be at least 1/],
    ['bad mode', `${minimal}replication: {mode: fast}\n`, /replication\.mode is "fast", expected one of auto, link-dest, snapshot, send/],
    ['section not a mapping', `${minimal}ssh: 5\n`, /ssh must be a mapping of keys, got 5/],
    ['not YAML', 'node: [alice\n', /not valid YAML/],
    ['a list, not a mapping', '- node\n- root\n', /the document must be a mapping/],
    ['duplicate key', `${minimal}node: bob\n`, /not valid YAML/],
    ['alias bomb', `a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n`, /not valid YAML|is not a known setting/],
  ]
  for (const [what, source, expected] of errors) {
    it(`rejects ${what}, naming the file and field`, () => {
      const message = configError(source)
      assert.match(message, expected)
      assert.ok(message.startsWith(`${FILE}: `), message)
    })
  }
})
