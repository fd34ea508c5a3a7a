import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { Readable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { run } from '../../lib/exec.ts'
import { classifyTransfer, parseStats } from '../../lib/rsync.ts'
import { bytesTaken, watchProgress } from '../../lib/watchdog.ts'

// Fake binaries on PATH. The fake `ssh` keeps reading (as the real one reads the replies to its
// own keep-alives); only what the `rsync` processes read is progress.
const FAKES = {
  ssh: '#!/bin/bash\nwhile read -r -n 1 byte; do sleep 0.02; done < /dev/zero\n',
  // A peer that stopped answering: rsync waits, reading nothing, while its ssh stays busy.
  rsync: '#!/bin/bash\nssh &\nsleep 60\n',
  // A slow but live peer: a byte every 0.1 s for 3 s, always well inside the 5 s allowed.
  'rsync-slow': '#!/bin/bash\nfor i in $(seq 30); do read -r -n 1 byte < "$0"; sleep 0.1; done\necho done\n',
}

describe('the stall watchdog', () => {
  let bin: string
  let env: NodeJS.ProcessEnv
  before(() => {
    bin = mkdtempSync(join(tmpdir(), 'famlab-fakes-'))
    for (const [name, script] of Object.entries(FAKES)) writeFileSync(join(bin, name), script, { mode: 0o755 })
    env = { ...process.env, PATH: `${bin}:${process.env.PATH}` }
  })
  after(() => rmSync(bin, { recursive: true, force: true }))

  it('kills a transfer whose own processes read nothing for the time allowed, ssh and all', async () => {
    // timeoutMs only bounds a broken watchdog; the stall is what must end it.
    const result = await run(['rsync', '-a', 'src/', 'peer:dst/'], { env, stallMs: 500, timeoutMs: 30_000 })
    assert.equal(result.stalled, true)
    assert.equal(result.ok, false)
    assert.equal(classifyTransfer(result).result, 'timeout')
    assert.equal(parseStats(result.stdout), undefined, 'no bytes are recorded for it, rather than 0')
    const leftover = await run(['pgrep', '-f', `^/bin/bash ${bin}/`])
    assert.equal(leftover.stdout, '', 'the fake ssh was killed with it')
  })

  it('leaves a transfer alone that keeps reading, however slowly', async () => {
    const result = await run(['rsync-slow'], { env, stallMs: 5000 })
    assert.equal(result.stalled, undefined)
    assert.equal(result.ok, true)
    assert.equal(result.stdout, 'done\n')
  })
})

describe('the stall watchdog on a stream (send mode)', () => {
  const fourMiB = function* () {
    for (let i = 0; i < 64; i++) yield Buffer.alloc(64 * 1024)
  }
  /** `source` into `reader`'s stdin; resolves true when the watchdog fired, false when the reader ended. */
  function feed(reader: string, quietMs: number, source: () => Iterable<Buffer> | AsyncIterable<Buffer> = fourMiB): Promise<boolean> {
    // sh, not bash: a bash whose stdin is a socket reads ~/.bashrc, seconds on a loaded machine.
    const child = spawn('sh', ['-c', reader], { stdio: ['pipe', 'ignore', 'ignore'] })
    const stream = Readable.from(source())
    stream.pipe(child.stdin)
    child.stdin.on('error', () => {})
    return new Promise((resolve) => {
      const watchdog = watchProgress(bytesTaken(stream, child.stdin), quietMs, () => {
        child.kill('SIGKILL')
        resolve(true)
      })
      child.on('close', () => {
        watchdog.stop()
        resolve(false)
      })
    })
  }

  it('fires when the reader stops taking what waits for it', async () => {
    assert.equal(await feed('head -c 100000 >/dev/null; sleep 60', 500), true)
  })

  it('does not fire while the reader takes a little now and then', async () => {
    assert.equal(await feed('for i in $(seq 40); do head -c 131072 >/dev/null; sleep 0.05; done', 5000), false)
  })

  it('does not fire while the writer thinks and nothing waits', async () => {
    const thinking = async function* () {
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 1000))
        yield Buffer.alloc(1024)
      }
    }
    assert.equal(await feed('cat >/dev/null', 300, thinking), false)
  })
})
