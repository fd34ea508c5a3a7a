import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { newSeed, publicKeyLine } from '../../lib/keys.ts'
import {
  membershipDigest, membershipProblem, mergeMemberships, normalizeMembership, withMember, withoutMember,
  type Member, type Membership,
} from '../../lib/members.ts'

const member = (name: string, port = 2200): Member => ({
  name, host: '127.0.0.1', port, user: 'famlab', key: publicKeyLine(newSeed()), host_key: publicKeyLine(newSeed()), joined: '2026-11-23T10:00:00.000Z',
})
const names = (m: Membership) => m.members.map((x) => x.name)

describe('member lists', () => {
  const alice = member('alice')
  const bob = member('bob')
  const carol = member('carol')
  const base = normalizeMembership({ version: 3, members: [alice, bob, carol] })

  it('keeps a tombstone when a member is removed, so an older list cannot bring it back', () => {
    const removed = withoutMember(base, 'bob', '2026-11-24T00:00:00Z')
    assert.equal(removed.version, 4)
    assert.deepEqual(names(removed), ['alice', 'carol'])
    const merged = mergeMemberships(removed, base)
    assert.deepEqual(names(merged), ['alice', 'carol'])
    assert.equal(merged.version, 4)
    assert.equal(membershipDigest(merged), membershipDigest(removed))
  })

  it('re-enrollment revokes the old key and the new entry wins over the old one', () => {
    const bob2 = { ...member('bob', 2299) }
    const reenrolled = withMember(base, bob2, 're-enrolled', '2026-11-24T00:00:00Z')
    assert.equal(reenrolled.removed?.[0].key, bob.key)
    const merged = mergeMemberships(base, reenrolled)
    assert.equal(merged.members.find((m) => m.name === 'bob')?.key, bob2.key)
    assert.equal(merged.version, reenrolled.version)
    assert.equal(membershipProblem({ ...reenrolled, members: [...reenrolled.members.filter((m) => m.name !== 'bob'), bob] }), 'member "bob": its key was revoked')
  })

  it('merges two changes made at the same time into the same list on both sides, with a newer version', () => {
    const withDave = withMember(base, member('dave'))
    const withoutCarol = withoutMember(base, 'carol', '2026-11-24T00:00:00Z')
    assert.equal(withDave.version, withoutCarol.version)
    const one = mergeMemberships(withDave, withoutCarol)
    const other = mergeMemberships(withoutCarol, withDave)
    assert.deepEqual(one, other)
    assert.deepEqual(names(one), ['alice', 'bob', 'dave'])
    assert.equal(one.version, withDave.version + 1)
  })

  it('refuses malformed tombstones', () => {
    assert.match(membershipProblem({ ...base, removed: [{ name: 'Bob!', key: bob.key, version: 1, time: '', reason: '' }] })!, /bad name/)
    assert.match(membershipProblem({ ...base, removed: 'x' as never })!, /must be a list/)
  })
})
