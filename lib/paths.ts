// Where things live: the storage root and the state directory (CONTRACT: Storage root, State directory).
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Config } from './config.ts'

/** The famlab entry point of this installation; peer keys force it with an absolute path. */
export const FAMLAB_BIN = fileURLToPath(new URL('../bin/famlab', import.meta.url))

export const INCOMPLETE = '.incomplete'
/** An interrupted `.incomplete`, kept only as a link-dest basis for the next transfer. */
export const RESUME = '.resume'
/**
 * Names the replica a fresh snapshot-mode `.incomplete` is a copy of. A sender that sent only what
 * changed since that snapshot may finalize only on top of it: anything else would leave stale files in a replica.
 */
export const INCOMPLETE_BASIS = '.incomplete-basis'
/** Prefix of a snapshot or replica being deleted: renamed first so `<snap>` always means complete. */
export const PRUNING_PREFIX = '.pruning-'

export function storage(config: Config) {
  const { root } = config
  return {
    root,
    local: join(root, 'local'),
    snapshots: join(root, 'snapshots'),
    replicas: join(root, 'replicas'),
    snapshot: (name: string) => join(root, 'snapshots', name),
    replicasOf: (origin: string) => join(root, 'replicas', origin),
  }
}

export function state(config: Config) {
  const dir = config.state
  return {
    dir,
    peers: join(dir, 'peers.yaml'),
    knownHosts: join(dir, 'known_hosts'),
    sshConfig: join(dir, 'ssh_config'),
    history: join(dir, 'history.jsonl'),
    status: join(dir, 'status.json'),
    lock: join(dir, 'lock'),
    membershipLock: join(dir, 'peers.lock'),
    originLock: (origin: string) => join(dir, `receive-${origin}.lock`),
    invites: join(dir, 'invites'),
    identity: config.ssh.identity,
    authorizedKeys: config.ssh.authorized_keys,
  }
}
