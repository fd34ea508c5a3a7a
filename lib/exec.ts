// One runner for external commands, and one dry-run gate in front of everything that changes things.
import { basename } from 'node:path'
import { $, quote } from 'zx/core'
import type { Log } from './log.ts'
import { bytesRead, killTree, watchProgress } from './watchdog.ts'

export type RunOptions = {
  input?: string
  cwd?: string
  env?: NodeJS.ProcessEnv
  /** Milliseconds before the command is killed. */
  timeoutMs?: number
  /** Called with each chunk of stdout as it arrives (rsync progress for a watching person). */
  onStdout?: (chunk: string) => void
  /** Let the command use this process's stdin/stdout/stderr (serve hands the ssh channel to rsync). */
  inherit?: boolean
  /**
   * Milliseconds the command's own processes (by its name: rsync's forks, not the ssh it starts)
   * may read nothing before it is killed as stalled (lib/watchdog.ts).
   */
  stallMs?: number
}

/** `stalled`: killed by the stall watchdog. */
export type Result = { ok: boolean; code: number; stdout: string; stderr: string; stalled?: boolean }

/**
 * zx runs each command through `bash -c`. A top-level bash whose stdin is a socket (node's stdio
 * pipes are) guesses it was started by rshd and reads /etc/bash.bashrc and ~/.bashrc: under a
 * systemd timer, where SHLVL is unset, an admin's pyenv or conda setup then costs seconds per
 * command and may print into its output. Bash reads them only at shell level 1.
 */
const NO_RC_FILES = { SHLVL: '1' }

export async function run(cmd: readonly string[], options: RunOptions = {}): Promise<Result> {
  const [bin, ...args] = cmd
  const shell = $({
    nothrow: true,
    quiet: true,
    verbose: false,
    cwd: options.cwd,
    env: { ...(options.env ?? process.env), ...NO_RC_FILES },
    input: options.input,
    timeout: options.timeoutMs,
    stdio: options.inherit ? 'inherit' : ['pipe', 'pipe', 'pipe'],
  })
  const running = shell`${bin} ${args}`
  if (options.onStdout) running.stdout.on('data', (chunk: Buffer) => options.onStdout!(chunk.toString()))
  let stalled = false
  const watchdog = options.stallMs === undefined ? undefined : watchProgress(
    () => (running.pid ? bytesRead(running.pid, basename(bin)) : undefined),
    options.stallMs,
    () => {
      stalled = true
      if (running.pid) killTree(running.pid)
    },
  )
  const out = await running.finally(() => watchdog?.stop())
  const code = out.exitCode ?? (out.signal ? 128 : 1)
  return { ok: code === 0, code, stdout: options.inherit ? '' : out.stdout, stderr: options.inherit ? '' : out.stderr, ...(stalled ? { stalled } : {}) }
}

/** Throws with the command's own last stderr line when it fails. */
export async function runChecked(cmd: readonly string[], options: RunOptions = {}): Promise<string> {
  const result = await run(cmd, options)
  if (!result.ok) throw new Error(`${cmd[0]} ${cmd[1] ?? ''} failed (exit ${result.code}): ${lastLine(result.stderr)}`)
  return result.stdout
}

export function lastLine(text: string): string {
  return text.trim().split('\n').at(-1) ?? ''
}

export function shellQuote(cmd: readonly string[]): string {
  return cmd.map((word) => quote(word)).join(' ')
}

/** The dry-run gate: with `dryRun`, says what it would do and does nothing. */
export async function change<T>(
  gate: { dryRun: boolean; log: Log },
  step: string,
  what: string,
  action: () => Promise<T>,
): Promise<T | undefined> {
  if (gate.dryRun) {
    gate.log.warn(step, `[dry-run] would ${what}`)
    return undefined
  }
  return action()
}
