// Files under the state directory: written atomically, 0600, owned by ssh.user (serve runs as that user).
import { chownSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { dirname, join, basename } from 'node:path'
import type { Config } from './config.ts'

export type Account = { name: string; uid: number; gid: number; home: string; shell: string }

export function lookupAccount(name: string): Account | undefined {
  const result = spawnSync('getent', ['passwd', name], { encoding: 'utf8' })
  if (result.status !== 0) return undefined
  const [, , uid, gid, , home, shell] = result.stdout.trim().split(':')
  return { name, uid: Number(uid), gid: Number(gid), home, shell }
}

/** Gives a path to ssh.user when we are root; a no-op when we already are that user. */
export function chownToServiceUser(config: Config, path: string): void {
  if (process.getuid?.() !== 0) return
  const account = lookupAccount(config.ssh.user)
  if (account) chownSync(path, account.uid, account.gid)
}

export function ensureStateDir(config: Config, dir: string): void {
  if (existsSync(dir)) return
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  chownToServiceUser(config, dir)
}

/**
 * Write-then-rename in the file's own directory, so a reader never sees half a file and a crash
 * leaves the old one; `beforeRename` sets what must hold from the first moment (an owner).
 */
export function writeFileAtomic(file: string, content: string, mode: number, beforeRename?: (temp: string) => void): void {
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`)
  try {
    const fd = openSync(temp, 'w', mode)
    try {
      writeSync(fd, content)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    beforeRename?.(temp)
    renameSync(temp, file)
  } catch (err) {
    rmSync(temp, { force: true })
    throw err
  }
}

export function writeStateFile(config: Config, file: string, content: string, mode = 0o600): void {
  ensureStateDir(config, dirname(file))
  writeFileAtomic(file, content, mode, (temp) => chownToServiceUser(config, temp))
}

export function readStateFile(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

export function readJsonFile<T>(file: string): T | undefined {
  const text = readStateFile(file)
  if (text === undefined) return undefined
  try {
    return JSON.parse(text) as T
  } catch {
    return undefined
  }
}
