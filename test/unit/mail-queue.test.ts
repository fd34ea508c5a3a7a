import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import type { Config } from '../../lib/config.ts'
import { enqueueMail, flushMailQueue, mailQueueSummary, renderMailQueue } from '../../lib/mail-queue.ts'

const dir = mkdtempSync(join(tmpdir(), 'famlab-mailq-'))
const config = { state: dir, ssh: { user: 'famlab-nobody-here' } } as unknown as Config
const message = (n: number) => `To: root\r\nSubject: mail ${n}\r\n\r\nbody ${n}\r\n`

describe('the mail queue', () => {
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('keeps each message until sendmail accepts it, oldest first, and stops at the first refusal', async () => {
    enqueueMail(config, message(1), new Date('2026-12-01T01:00:00Z'))
    enqueueMail(config, message(2), new Date('2026-12-01T02:00:00Z'))
    assert.deepEqual(mailQueueSummary(config), { queued: 2, oldest: '2026-12-01T01:00:00Z' })
    const line = renderMailQueue(mailQueueSummary(config)).trim()
    assert.match(line, /^MAIL: 2 queued since 2026-12-01 01:00 UTC; the next report or notify retries$/)
    assert.ok(line.length <= 80, line)

    const offered: string[] = []
    const down = await flushMailQueue(config, async (m) => (offered.push(m), false))
    assert.deepEqual(down, { sent: 0, left: 2 })
    assert.deepEqual(offered, [message(1)], 'a refused first message is not followed by the rest')

    const delivered: string[] = []
    assert.deepEqual(await flushMailQueue(config, async (m) => (delivered.push(m), true)), { sent: 2, left: 0 })
    assert.deepEqual(delivered, [message(1), message(2)])
    assert.deepEqual(await flushMailQueue(config, async () => assert.fail('nothing left to send')), { sent: 0, left: 0 })
    assert.equal(renderMailQueue(mailQueueSummary(config)), '')
    assert.deepEqual(readdirSync(join(dir, 'mail-queue')).filter((f) => f.endsWith('.eml')), [])
  })
})
