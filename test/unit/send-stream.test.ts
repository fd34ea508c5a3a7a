import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Writable } from 'node:stream'
import { describe, it } from 'node:test'
import { streamChecker, type StreamLimits } from '../../lib/send-stream.ts'
import { chooseParent } from '../../lib/send.ts'
import { pathsInStream } from '../../lib/changed-paths.ts'

// Protocol 1 framing: header, then commands of (length u32, command u16, crc u32, attributes).
const attribute = (type: number, value: Buffer | string) => {
  const data = Buffer.from(value)
  const head = Buffer.alloc(4)
  head.writeUInt16LE(type, 0)
  head.writeUInt16LE(data.length, 2)
  return Buffer.concat([head, data])
}
const u64 = (n: number) => {
  const b = Buffer.alloc(8)
  b.writeBigUInt64LE(BigInt(n))
  return b
}
const command = (cmd: number, ...attributes: Buffer[]) => {
  const payload = Buffer.concat(attributes)
  const head = Buffer.alloc(10)
  head.writeUInt32LE(payload.length, 0)
  head.writeUInt16LE(cmd, 4)
  return Buffer.concat([head, payload])
}
const header = () => {
  const version = Buffer.alloc(4)
  version.writeUInt32LE(1)
  return Buffer.concat([Buffer.from('btrfs-stream\0', 'latin1'), version])
}
const SELF = Buffer.alloc(16, 1)
const PARENT = Buffer.alloc(16, 2)
const subvol = (name: string) => command(1, attribute(15, name), attribute(1, SELF), attribute(2, u64(1)))
const snapshotOf = (name: string, parent: Buffer) => command(2, attribute(15, name), attribute(1, SELF), attribute(2, u64(1)), attribute(20, parent), attribute(21, u64(1)))
const mkfile = (path: string) => command(3, attribute(15, path), attribute(3, u64(257)))
const chmod = (path: string, mode: number) => command(18, attribute(15, path), attribute(5, u64(mode)))
const end = () => command(21)
const limits: StreamLimits = { subvolume: '2026-11-23T100000Z', parents: new Set([PARENT.toString('hex')]), maxBytes: 1 << 20 }

async function check(parts: Buffer[], chunk = 7, over: Partial<StreamLimits> = {}): Promise<string | undefined> {
  const whole = Buffer.concat(parts)
  const chunks = Array.from({ length: Math.ceil(whole.length / chunk) }, (_, i) => whole.subarray(i * chunk, (i + 1) * chunk))
  const passed: Buffer[] = []
  const sink = new Writable({ write(c, _e, done) { passed.push(c); done() } })
  try {
    await pipeline(Readable.from(chunks), streamChecker({ ...limits, ...over }), sink)
    assert.deepEqual(Buffer.concat(passed), whole, 'a good stream passes unchanged')
    return undefined
  } catch (err) {
    return (err as Error).message
  }
}

describe('send stream checker', () => {
  it('passes a whole stream and an incremental one on an agreed parent, in any chunking', async () => {
    assert.equal(await check([header(), subvol(limits.subvolume), mkfile('o257-5-0'), chmod('o257-5-0', 0o644), end()]), undefined)
    assert.equal(await check([header(), snapshotOf(limits.subvolume, PARENT), mkfile('a/b'), end()], 1), undefined)
  })

  const refusals: [string, Buffer[], RegExp][] = [
    ['another subvolume name', [header(), subvol('../evil'), end()], /creates/],
    ['a parent not received from this origin', [header(), snapshotOf(limits.subvolume, Buffer.alloc(16, 9)), end()], /parent/],
    ['a path out of the subvolume', [header(), subvol(limits.subvolume), mkfile('../../etc/passwd'), end()], /outside/],
    ['an absolute path', [header(), subvol(limits.subvolume), mkfile('/etc/passwd'), end()], /outside/],
    ['a security xattr', [header(), subvol(limits.subvolume), command(13, attribute(15, 'x'), attribute(13, 'security.capability'), attribute(14, 'x')), end()], /xattr/],
    ['a stream cut short', [header(), subvol(limits.subvolume), mkfile('x')], /ended before/],
    ['no send stream at all', [Buffer.from('#!/bin/sh\nrm -rf /\n')], /not a btrfs send stream/],
    ['commands before the subvolume', [header(), mkfile('x'), end()], /does not start/],
  ]
  for (const [what, parts, reason] of refusals) {
    it(`refuses ${what}`, async () => assert.match((await check(parts)) ?? 'passed', reason))
  }

  it('refuses a stream over the size limit', async () => {
    assert.match((await check([header(), subvol(limits.subvolume), end()], 7, { maxBytes: 20 })) ?? 'passed', /exceeds/)
  })

  it('an incremental goes against the newest snapshot both sides still have', () => {
    assert.equal(chooseParent('S5', ['S1', 'S2', 'S4', 'S5'], ['S1', 'S2', 'S3']), 'S2')
    assert.equal(chooseParent('S5', ['S5'], ['S1']), undefined)
    assert.equal(chooseParent('S2', ['S1', 'S2', 'S3'], ['S3', 'S1']), 'S1')
  })
})

describe('what a metadata-only stream says changed (snapshot mode lists it for rsync)', () => {
  const rename = (from: string, to: string) => command(9, attribute(15, from), attribute(16, to))
  const link = (path: string, existing: string) => command(10, attribute(15, path), attribute(17, existing))
  const symlink = (path: string, target: string) => command(8, attribute(15, path), attribute(3, u64(258)), attribute(17, target))
  const unlink = (path: string) => command(11, attribute(15, path))

  it('names every path acted on, both ends of a rename and of a link, but not a symlink target', () => {
    const stream = Buffer.concat([header(), snapshotOf('2026-11-23T100000Z', PARENT), mkfile('o257-7-0'), rename('o257-7-0', 'new file'),
      link('second name', 'docs/first'), symlink('link', '/etc/passwd'), unlink('gone'), chmod('', 0o755), end()])
    const { named, renamedTo } = pathsInStream(stream)
    assert.deepEqual([...named].sort(), ['', 'docs/first', 'gone', 'link', 'new file', 'o257-7-0', 'second name'])
    assert.deepEqual([...renamedTo], ['new file'])
  })

  it('keeps a name that is not UTF-8 byte for byte', () => {
    const name = Buffer.from([0x64, 0xff, 0xfe])
    const { named } = pathsInStream(Buffer.concat([header(), subvol('2026-11-23T100000Z'), command(3, attribute(15, name), attribute(3, u64(257))), end()]))
    assert.deepEqual([...named].map((path) => Buffer.from(path, 'latin1')), [name])
  })
})
