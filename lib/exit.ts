// Exit codes and the typed errors that map to them, in one place (CONTRACT: Common rules).
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  partial: 3,
  busy: 75,
} as const

export class FamlabError extends Error {
  readonly exitCode: number = EXIT.failed
  constructor(message: string, readonly hint?: string) {
    super(message)
  }
}

/** Bad arguments or environment: exit 2, nothing changed. */
export class UsageError extends FamlabError {
  override readonly exitCode = EXIT.usage
}

/** A config file that is unreadable or invalid: exit 2, nothing changed. */
export class ConfigError extends FamlabError {
  override readonly exitCode = EXIT.usage
}

/** Another run holds the lock, or Time Machine stayed busy: exit 75, nothing changed. */
export class BusyError extends FamlabError {
  override readonly exitCode = EXIT.busy
}

/** Turns anything thrown into one stderr sentence and an exit code; stacks only with --verbose. */
export function reportError(err: unknown, verbose = false): number {
  if (err instanceof FamlabError) {
    process.stderr.write(`famlab: ${err.message}${err.hint ? ` — ${err.hint}` : ''}\n`)
    if (verbose && err.stack) process.stderr.write(`${err.stack}\n`)
    return err.exitCode
  }
  const message = err instanceof Error ? err.message : String(err)
  process.stderr.write(`famlab: unexpected failure: ${message.split('\n')[0]}\n`)
  if (verbose && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`)
  return EXIT.failed
}

/** Runs `main` when this module is the process entry point; the only place that sets the exit code. */
export function runIfMain(moduleUrl: string, main: (argv: string[]) => Promise<number>): void {
  const entry = process.argv[1]
  if (!entry || realpathSync(entry) !== realpathSync(fileURLToPath(moduleUrl))) return
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code },
    (err) => { process.exitCode = reportError(err, process.argv.includes('--verbose')) },
  )
}
