import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { membershipChange } from '../../lib/events.ts'

describe('membership_changed', () => {
  it('says who joined and who left, and nothing for a new family or an unchanged list', () => {
    assert.equal(membershipChange(['alice', 'bob'], ['alice', 'bob', 'carol']), 'joined: carol')
    assert.equal(membershipChange(['alice', 'bob', 'carol'], ['alice', 'carol', 'dave']), 'joined: dave; left: bob')
    assert.equal(membershipChange([], ['alice']), undefined)
    assert.equal(membershipChange(['alice', 'bob'], ['bob', 'alice']), undefined)
  })
})
