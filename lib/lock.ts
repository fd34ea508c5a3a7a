// One run at a time: flock(2) held on an open file for as long as this process lives.
import { closeSync, openSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { BusyError } from './exit.ts'

export type Lock = { release(): void }

/**
 * flock(1) locks the open file description it inherits as fd 3. That description is
 * shared with this process, so the lock outlives the flock command and is released
 * only when we close it or die (even by SIGKILL).
 */
export function acquireLock(file: string, options: { holder?: string; waitSeconds?: number } = {}): Lock {
  const { holder = 'another famlab run', waitSeconds = 0 } = options
  const fd = openSync(file, 'a', 0o600)
  const wait = waitSeconds > 0 ? ['--timeout', String(waitSeconds)] : ['--nonblock']
  const result = spawnSync('flock', [...wait, '--conflict-exit-code', '75', '3'], {
    stdio: ['ignore', 'ignore', 'pipe', fd],
  })
  if (result.status !== 0) {
    closeSync(fd)
    if (result.status === 75) throw new BusyError(`${file} is held by ${holder}; nothing was changed`)
    throw new Error(`cannot lock ${file}: ${result.stderr?.toString().trim() || result.error?.message}`)
  }
  let held = true
  return {
    release() {
      if (held) closeSync(fd)
      held = false
    },
  }
}

export async function withLock<T>(file: string, body: () => Promise<T>): Promise<T> {
  const lock = acquireLock(file)
  try {
    return await body()
  } finally {
    lock.release()
  }
}
