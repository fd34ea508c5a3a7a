// The household side on the real harness: Samba and Avahi files, a real smbd on 127.0.0.1.
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { run } from '../../lib/exec.ts'
import { createFamily, type Family, type Node } from '../harness/family.ts'

const AVAHI_DTD = '/usr/share/avahi/avahi-service.dtd'

describe('a household on a famlab node', () => {
  let family: Family
  let alice: Node

  before(async () => {
    family = await createFamily(['alice'], { enroll: false })
    ;[alice] = family.nodes
  })
  after(() => family?.cleanup())

  it('writes an smb.conf that testparm accepts without a complaint', async () => {
    const generated = await alice.famlab(['smb-conf'])
    assert.equal(generated.code, 0, generated.stderr)
    const file = join(alice.dir, 'generated-smb.conf')
    writeFileSync(file, generated.stdout)
    const testparm = await run(['testparm', '-s', file])
    assert.equal(testparm.code, 0, testparm.stderr)
    const complaints = testparm.stderr.split('\n').filter((l) => /unknown|ignoring|found in service section|invalid|error/i.test(l))
    assert.deepEqual(complaints, [])
    for (const line of ['vfs objects = catia fruit streams_xattr', 'fruit:time machine = yes', 'server min protocol = SMB2', 'load printers = No']) {
      assert.ok(testparm.stdout.includes(line), `testparm shows "${line}"`)
    }
    assert.match(testparm.stdout, new RegExp(`path = ${alice.root}/local/timemachine/%U`))
    assert.match(testparm.stdout, new RegExp(`path = ${alice.root}/local/filehistory/%U`))
    assert.doesNotMatch(testparm.stdout, /guest ok = Yes|\[printers\]/)
    // The 1 GiB test disk is smaller than max_size: Time Machine gets the household's third.
    assert.match(testparm.stdout, /fruit:time machine max size = 34\dM/)
  })

  it('writes an Avahi service file that is valid per Avahi DTD', async () => {
    const generated = await alice.famlab(['avahi-service'])
    assert.equal(generated.code, 0, generated.stderr)
    const file = join(alice.dir, 'famlab.service')
    writeFileSync(file, generated.stdout)
    const lint = await run(['xmllint', '--noout', '--dtdvalid', AVAHI_DTD, file])
    assert.equal(lint.code, 0, lint.stderr)
    assert.doesNotMatch(lint.stderr, /validity|error/i)
    for (const type of ['_smb._tcp', '_device-info._tcp', '_adisk._tcp']) assert.ok(generated.stdout.includes(`<type>${type}</type>`))
  })
})
