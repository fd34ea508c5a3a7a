import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { classifyRsyncExit, parseStats, pushCommand } from '../../lib/rsync.ts'
import { parseRsyncRequest } from '../../lib/rsync-policy.ts'

describe('rsync exit classification', () => {
  const cases: [number, string][] = [
    [0, 'ok'], [23, 'partial'], [24, 'partial'], [30, 'timeout'], [35, 'timeout'], [255, 'offline'],
    [11, 'failed'], [12, 'failed'], [20, 'failed'], [1, 'refused'], [2, 'refused'], [5, 'refused'], [99, 'failed'],
  ]
  for (const [code, result] of cases) {
    it(`exit ${code} is ${result}`, () => {
      const outcome = classifyRsyncExit(code)
      assert.equal(outcome.result, result)
      assert.ok(outcome.message.length > 10)
    })
  }
})

describe('rsync stats', () => {
  it('reads the numbers of --stats', () => {
    const stats = parseStats(`
Number of files: 1,234 (reg: 1,000, dir: 234)
Literal data: 32,768 bytes
Total bytes sent: 45,678
Total bytes received: 1,234
`)
    assert.deepEqual(stats, { bytesSent: 45678, bytesReceived: 1234, literalBytes: 32768, files: 1234 })
  })

  it('has none for a run stopped before it printed them, rather than 0 bytes', () => {
    assert.equal(parseStats('        32,768 100%   31.25MB/s    0:00:00 (xfr#1, to-chk=5/7)\n'), undefined)
    assert.equal(parseStats(''), undefined)
  })
})

describe('push command', () => {
  it('mirrors a snapshot into the peer .incomplete with archive flags and limits', () => {
    const cmd = pushCommand('/srv/famlab/snapshots/2026-11-23T101500Z', 'famlab-bob', {
      ssh: ['ssh', '-F', '/var/lib/famlab/ssh_config'], bwlimitKbps: 250, timeoutS: 600, progress: false,
    })
    assert.deepEqual(cmd.slice(-2), ['/srv/famlab/snapshots/2026-11-23T101500Z/', 'famlab-bob:.incomplete/'])
    for (const flag of ['-aHAXS', '--numeric-ids', '--delete', '--bwlimit=250', '--timeout=600']) assert.ok(cmd.includes(flag), flag)
    assert.ok(!cmd.some((a) => a.startsWith('--info=progress')))
  })
})

describe('serve rsync policy', () => {
  const push = 'rsync --server -lHogDtpAXrSe.iLsfxCIvu --timeout=600 --bwlimit=250 --delete --stats --numeric-ids . .incomplete/'
  const pull = 'rsync --server --sender -lHogDtpAXrSe.iLsfxCIvu --numeric-ids . 2026-11-23T101500Z/'

  it('accepts what famlab itself sends', () => {
    assert.deepEqual(parseRsyncRequest(push), {
      direction: 'receive', path: '.incomplete/',
      options: ['-lHogDtpAXrSe.iLsfxCIvu', '--timeout=600', '--bwlimit=250', '--delete', '--stats', '--numeric-ids'],
    })
    assert.equal((parseRsyncRequest(pull) as { direction: string }).direction, 'send')
    assert.ok('path' in parseRsyncRequest('rsync --server --sender -logDtpre.iLsfxCIvu . 2026-11-23T101500Z/photos/with\\ space'))
  })

  it('lets a pull name its files on stdin (restore --path, verify --sample)', () => {
    const named = 'rsync --server --sender -nlHogDtpAXcRSe.LsfxCIvu --numeric-ids --files-from=- --from0 . 2026-11-23T101500Z/'
    assert.equal((parseRsyncRequest(named) as { direction: string }).direction, 'send')
  })

  const refused: [string, string][] = [
    ['a write outside .incomplete', 'rsync --server -logDtpre.iLsfxCIvu . 2026-11-23T101500Z/'],
    ['a write to another origin', 'rsync --server -logDtpre.iLsfxCIvu . ../carol/.incomplete/'],
    ['a read with ..', 'rsync --server --sender -logDtpre.iLsfxCIvu . 2026-11-23T101500Z/../../carol/'],
    ['an absolute read', 'rsync --server --sender -logDtpre.iLsfxCIvu . /etc/'],
    ['a read of the state', 'rsync --server --sender -logDtpre.iLsfxCIvu . .incomplete/'],
    ['two paths', 'rsync --server --sender -logDtpre.iLsfxCIvu . 2026-11-23T101500Z/ 2026-11-22T101500Z/'],
    ['--rsh', 'rsync --server --rsh=sh -logDtpre.iLsfxCIvu . .incomplete/'],
    ['-e with a command', 'rsync --server -e sh -logDtpr . .incomplete/'],
    ['--rsync-path', 'rsync --server --rsync-path=/bin/sh . .incomplete/'],
    ['--log-file', 'rsync --server --log-file=/tmp/x -logDtpr . .incomplete/'],
    ['--temp-dir', 'rsync --server --temp-dir=/tmp -logDtpr . .incomplete/'],
    ['-T', 'rsync --server -T/tmp -logDtpr . .incomplete/'],
    ['--link-dest from the peer', 'rsync --server --link-dest=/etc -logDtpr . .incomplete/'],
    ['--write-devices', 'rsync --server --write-devices -logDtpr . .incomplete/'],
    ['--copy-devices', 'rsync --server --sender --copy-devices -logDtpr . 2026-11-23T101500Z/'],
    ['following symlinks (-L)', 'rsync --server --sender -logDtprL . 2026-11-23T101500Z/'],
    ['keeping dirlinks (-K)', 'rsync --server -logDtprK . .incomplete/'],
    ['secluded args', 'rsync --server -s -logDtpr . .incomplete/'],
    ['--files-from', 'rsync --server --sender --files-from=/etc/passwd -logDtpr . 2026-11-23T101500Z/'],
    ['--remove-source-files', 'rsync --server --sender --remove-source-files -logDtpr . 2026-11-23T101500Z/'],
    ['--files-from on a write', 'rsync --server -logDtprR --files-from=- --from0 . .incomplete/'],
    ['-R on a write', 'rsync --server -logDtprR . .incomplete/'],
    ['--from0 on a write', 'rsync --server -logDtpr --from0 . .incomplete/'],
    ['--files-from a file on a pull', 'rsync --server --sender -logDtprR --files-from=list . 2026-11-23T101500Z/'],
    ['--trust-sender', 'rsync --server --trust-sender -logDtpr . .incomplete/'],
    ['a daemon', 'rsync --daemon'],
    ['no path', 'rsync --server -logDtpr'],
    ['an oversized line', `rsync --server ${'-v '.repeat(3000)}. .incomplete/`],
    ['not rsync', 'sh -c id'],
  ]
  for (const [what, line] of refused) {
    it(`refuses ${what}`, () => {
      const result = parseRsyncRequest(line)
      assert.ok('refused' in result, `allowed: ${line.slice(0, 80)}`)
    })
  }
})
