import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import type { Config } from '../../lib/config.ts'
import { appendEvent, eventsMail, eventsToMail, markEventsMailed, membershipChange, readEvents, renderEvents } from '../../lib/events.ts'

describe('membership_changed', () => {
  it('says who joined and who left, and nothing for a new family or an unchanged list', () => {
    assert.equal(membershipChange(['alice', 'bob'], ['alice', 'bob', 'carol']), 'joined: carol')
    assert.equal(membershipChange(['alice', 'bob', 'carol'], ['alice', 'carol', 'dave']), 'joined: dave; left: bob')
    assert.equal(membershipChange([], ['alice']), undefined)
    assert.equal(membershipChange(['alice', 'bob'], ['bob', 'alice']), undefined)
  })
})

describe('events in report and mail', () => {
  it('mails only what happened since the first report, once', () => {
    const state = mkdtempSync(join(tmpdir(), 'famlab-events-'))
    try {
      const config = { state, ssh: { user: 'famlab-nobody-here' } } as unknown as Config
      const event = (message: string) => ({ time: '2026-11-23T10:00:00Z', kind: 'membership_changed', node: 'alice', message })
      appendEvent(config, event('member list version 2: joined: bob'))
      assert.deepEqual(eventsToMail(config).events, [], 'setting up the family, before the first report, is not news')
      appendEvent(config, event('member list version 3: left: bob'))
      const untold = eventsToMail(config)
      assert.deepEqual(untold.events.map((e) => e.message), ['member list version 3: left: bob'])
      const mail = eventsMail('root', 'alice', untold.events)
      assert.equal(mail.subject, '[famlab alice] membership_changed: member list version 3: left: bob')
      assert.match(mail.body, /not an alert/)
      markEventsMailed(config, untold.through)
      assert.deepEqual(eventsToMail(config).events, [])
      assert.match(renderEvents(readEvents(config)), /^  2026-11-23 10:00 membership_changed: member list version 3: left: bob$/m)
    } finally {
      rmSync(state, { recursive: true, force: true })
    }
  })
})
