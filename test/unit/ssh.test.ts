import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Config } from '../../lib/config.ts'
import { sharedSshCommand, sharingSshCommand, sshCommand } from '../../lib/ssh.ts'

const config = (state: string, mode = 'send') => ({ state, ssh: { identity: `${state}/id_ed25519` }, replication: { mode } }) as unknown as Config

describe('ssh commands and the run\'s shared connection', () => {
  it('rsync and requests connect by themselves; the run\'s status opens the shared connection, idle-limited, and its stream rides it', () => {
    assert.deepEqual(sshCommand(config('/var/lib/famlab')), ['ssh', '-F', '/var/lib/famlab/ssh_config'])
    assert.deepEqual(sharingSshCommand(config('/var/lib/famlab')), ['ssh', '-F', '/var/lib/famlab/ssh_config', '-o', 'ControlPath=/var/lib/famlab/ssh-%i-%n'])
    assert.deepEqual(sharedSshCommand(config('/var/lib/famlab')).slice(5), ['-o', 'ControlMaster=auto', '-o', 'ControlPersist=15'])
  })

  it('only a run that may send streams opens one: nothing else would ride it', () => {
    for (const mode of ['auto', 'snapshot', 'link-dest']) assert.deepEqual(sharedSshCommand(config('/var/lib/famlab', mode)), sshCommand(config('/var/lib/famlab')))
  })

  it('a state directory too long for a socket path shares nothing and connects as before', () => {
    const long = `/srv/${'very-long-directory-name/'.repeat(3)}state`
    assert.deepEqual(sharingSshCommand(config(long)), ['ssh', '-F', `${long}/ssh_config`])
    assert.deepEqual(sharedSshCommand(config(long)), sshCommand(config(long)))
  })
})
