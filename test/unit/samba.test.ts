import assert from 'node:assert/strict'
import { linkSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { formatSizeMiB, householdBytes, offeredBytes, parseSize, roomForPeers, timeMachineMaxSize } from '../../lib/capacity.ts'
import { parseConfig } from '../../lib/config.ts'
import { renderAvahiService, renderSmbConf, renderTemplate } from '../../lib/samba.ts'
import { estimateTransferBytes } from '../../lib/space.ts'

const config = (extra = '') => parseConfig('/etc/famlab/famlab.yaml', `node: alice\nroot: /nonexistent/famlab\n${extra}`)
const GiB = 2 ** 30

describe('samba and avahi files', () => {
  it('fills every placeholder and refuses an unknown one', () => {
    assert.equal(renderTemplate('a {{x}} b {{x}}', { x: '1' }), 'a 1 b 1')
    assert.throws(() => renderTemplate('{{nope}}', {}), /nope/)
  })

  it('puts a Time Machine and a File History share per user under local/', () => {
    const conf = renderSmbConf(config('timemachine: {max_size: 500G}\n'))
    assert.match(conf, /^\[timemachine\]\n(   .*\n)*   path = \/nonexistent\/famlab\/local\/timemachine\/%U$/m)
    assert.match(conf, /^   fruit:time machine max size = 500G$/m)
    assert.match(conf, /^\[filehistory\]\n(   .*\n)*   path = \/nonexistent\/famlab\/local\/filehistory\/%U$/m)
    assert.match(conf, /^   server min protocol = SMB2_10$/m)
    assert.doesNotMatch(conf, /\{\{|guest ok = yes/)
  })

  it('advertises the Time Machine share by its name', () => {
    assert.match(renderAvahiService(config()), /<txt-record>dk0=adVN=timemachine,adVF=0x82<\/txt-record>/)
  })
})

describe('capacity agreement', () => {
  it('reads and writes sizes in binary units', () => {
    assert.equal(parseSize('1T'), 2 ** 40)
    assert.equal(parseSize('1.5G'), 1.5 * GiB)
    assert.throws(() => parseSize('12'))
    assert.equal(formatSizeMiB(3 * GiB + 5), '3072M')
  })

  it('splits the disk one third for the household, the rest for the family', () => {
    const disk = { total_bytes: 300 * GiB, free_bytes: 200 * GiB }
    const c = config()
    assert.equal(householdBytes(c, disk), Math.floor(300 * GiB * 0.334))
    assert.equal(householdBytes(c, disk) + offeredBytes(c, disk), 300 * GiB)
  })

  it('caps Time Machine at the household share of a small disk', () => {
    const c = config('timemachine: {max_size: 1T}\n')
    assert.equal(timeMachineMaxSize(c, undefined), '1T')
    assert.equal(timeMachineMaxSize(c, { total_bytes: 10 * 2 ** 40, free_bytes: 0 }), '1T')
    assert.equal(timeMachineMaxSize(c, { total_bytes: 3 * GiB, free_bytes: 0 }), formatSizeMiB(Math.floor(3 * GiB * 0.334)))
  })

  it('offers peers the smaller of the unused offer and the free disk', () => {
    assert.equal(roomForPeers(100, 30, 50), 50)
    assert.equal(roomForPeers(100, 80, 50), 20)
    assert.equal(roomForPeers(100, 120, 50), 0)
  })
})

describe('transfer estimate', () => {
  it('counts new and changed files whole, unchanged ones and repeated hard links not at all', () => {
    const dir = mkdtempSync('/tmp/famlab-estimate-')
    try {
      const [before, after] = [join(dir, 'a'), join(dir, 'b')]
      for (const snap of [before, after]) {
        mkdirSync(snap)
        writeFileSync(join(snap, 'same'), Buffer.alloc(64 * 1024, 1))
        utimesSync(join(snap, 'same'), 1000, 1000)
      }
      writeFileSync(join(after, 'new'), Buffer.alloc(128 * 1024, 2))
      linkSync(join(after, 'new'), join(after, 'new-again'))
      const withoutBasis = estimateTransferBytes(after, undefined)
      const withBasis = estimateTransferBytes(after, before)
      assert.ok(withBasis >= 128 * 1024 && withBasis < 128 * 1024 + 16 * 1024, `${withBasis}`)
      assert.ok(withoutBasis - withBasis >= 64 * 1024, `${withoutBasis} vs ${withBasis}`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
