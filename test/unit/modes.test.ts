import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { chooseMode, isInplaceRequest, offeredModes, rsyncModeFlags } from '../../lib/modes.ts'
import { pushCommand } from '../../lib/rsync.ts'
import { parseRsyncRequest } from '../../lib/rsync-policy.ts'

describe('transfer modes', () => {
  it('a holder offers snapshot mode only on btrfs, send only with its root-side receiver', () => {
    assert.deepEqual(offeredModes(false, true), ['link-dest'])
    assert.deepEqual(offeredModes(true, false), ['link-dest', 'snapshot'])
    assert.deepEqual(offeredModes(true, true), ['link-dest', 'snapshot', 'send'])
  })

  const cases: [string, string[] | undefined, string][] = [
    ['auto', ['link-dest', 'snapshot'], 'snapshot'],
    ['auto', ['link-dest', 'snapshot', 'send'], 'snapshot'],
    ['snapshot', ['link-dest', 'snapshot', 'send'], 'snapshot'],
    ['auto', ['link-dest'], 'link-dest'],
    ['auto', undefined, 'link-dest'],
    ['link-dest', ['link-dest', 'snapshot'], 'link-dest'],
    ['snapshot', ['link-dest'], 'link-dest'],
    ['send', ['link-dest', 'snapshot', 'send'], 'send'],
    ['send', ['link-dest', 'snapshot'], 'snapshot'],
    ['send', ['link-dest'], 'link-dest'],
    ['send', undefined, 'link-dest'],
  ]
  for (const [configured, offered, expected] of cases) {
    it(`${configured} with a holder offering ${offered?.join('+') ?? 'nothing (old holder)'} is ${expected}`, () => {
      assert.equal(chooseMode(configured as 'auto', offered as never), expected)
    })
  }

  it('only snapshot mode writes in place, and serve reads the mode off the request', () => {
    assert.deepEqual(rsyncModeFlags('link-dest'), [])
    assert.deepEqual(rsyncModeFlags('snapshot').slice(0, 2), ['--inplace', '--no-whole-file'])
    assert.ok(!rsyncModeFlags('snapshot').some((flag) => flag.startsWith('--files-from')))
    assert.deepEqual(rsyncModeFlags('snapshot', '/tmp/list').slice(-4), ['--files-from=/tmp/list', '--from0', '--delete-missing-args', '--force'])
    const options = { ssh: ['ssh'], bwlimitKbps: 0, timeoutS: 60, progress: false }
    const push = pushCommand('/srv/snapshots/S', 'famlab-bob', { ...options, extra: rsyncModeFlags('snapshot') })
    assert.ok(push.includes('--inplace') && push.includes('--no-whole-file'))
    assert.deepEqual(push.slice(-2), ['/srv/snapshots/S/', 'famlab-bob:.incomplete/'])
    const request = parseRsyncRequest('rsync --server -logDtpHAXSre.iLsfxCIvu --delete --inplace --no-W --numeric-ids . .incomplete/')
    assert.ok(!('refused' in request) && isInplaceRequest(request.options))
    const plain = parseRsyncRequest('rsync --server -logDtpHAXSre.iLsfxCIvu --delete --numeric-ids . .incomplete/')
    assert.ok(!('refused' in plain) && !isInplaceRequest(plain.options))
  })

  it('a listed transfer may name its files (-R, --no-r, --delete-missing-args) only when it writes in place', () => {
    const listed = 'rsync --server -ldHogDtpAXRSe.LsfxCIvu --no-r --timeout=600 --delete --force --stats --delete-missing-args --numeric-ids --inplace --no-W . .incomplete/'
    assert.ok(!('refused' in parseRsyncRequest(listed)))
    const notInPlace = listed.replace(' --inplace', '')
    assert.ok('refused' in parseRsyncRequest(notInPlace))
    assert.ok('refused' in parseRsyncRequest(notInPlace.replace('AXRSe', 'AXSe').replace(' --no-r', '')))
  })
})
