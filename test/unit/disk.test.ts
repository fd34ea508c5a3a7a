import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { crypttabLine, fstabLine, generatePassphrase, signatureOf, withTableEntry } from '../../lib/disk.ts'

describe('disk entries', () => {
  it('renders crypttab with the key file and fstab with nofail', () => {
    assert.equal(crypttabLine('famlab', 'f1e7fa84-6d8b', '/etc/cryptsetup-keys.d/famlab.key'), 'famlab UUID=f1e7fa84-6d8b /etc/cryptsetup-keys.d/famlab.key luks,discard')
    assert.match(fstabLine('famlab', '/srv/famlab'), /^\/dev\/mapper\/famlab \/srv\/famlab btrfs \S*nofail\S* 0 0$/)
  })

  it('replaces its own line, keeps the others and comments, and appends when absent', () => {
    const fstab = '# /etc/fstab\nUUID=abc / ext4 defaults 0 1\n/dev/mapper/old /srv/famlab btrfs defaults 0 0\n'
    const line = '/dev/mapper/famlab /srv/famlab btrfs nofail 0 0'
    const replaced = withTableEntry(fstab, 1, '/srv/famlab', line)
    assert.deepEqual(replaced, { text: `# /etc/fstab\nUUID=abc / ext4 defaults 0 1\n${line}\n`, changed: true })
    assert.deepEqual(withTableEntry(replaced.text, 1, '/srv/famlab', line), { text: replaced.text, changed: false })
    assert.equal(withTableEntry('', 0, 'famlab', 'famlab UUID=x none luks').text, 'famlab UUID=x none luks\n')
    assert.equal(withTableEntry('# famlab commented out\n', 0, 'famlab', 'L').text, '# famlab commented out\nL\n')
  })
})

describe('passphrase and signatures', () => {
  it('makes a readable passphrase without look-alike characters', () => {
    const phrase = generatePassphrase()
    assert.match(phrase, /^([a-z2-9]{5}-){7}[a-z2-9]{5}$/)
    assert.doesNotMatch(phrase, /[01loI]/)
    assert.notEqual(phrase, generatePassphrase())
  })

  it('reads a filesystem, LUKS or a partition table from blkid, and nothing from an empty device', () => {
    assert.equal(signatureOf('DEVNAME=/dev/loop3\nUUID=x\nTYPE=btrfs\nUSAGE=filesystem\n'), 'btrfs')
    assert.equal(signatureOf('DEVNAME=/dev/sdb\nPTUUID=x\nPTTYPE=gpt\n'), 'a gpt partition table')
    assert.equal(signatureOf(''), undefined)
  })
})
