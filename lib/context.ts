// The context every step receives: config, clock, environment, log. Nothing lives in module state.
import { randomBytes } from 'node:crypto'
import { createClock, type Clock } from './clock.ts'
import { loadConfig, loadEnvFile, resolveConfigPath, type Config } from './config.ts'
import { createLog, isInteractive, type Log } from './log.ts'

export type Context = {
  readonly config: Config
  readonly env: NodeJS.ProcessEnv
  readonly clock: Clock
  readonly log: Log
  readonly dryRun: boolean
  /** A person is watching: show progress. Never under a timer. */
  readonly interactive: boolean
  /** Groups the history lines of one run. */
  readonly runId: string
}

export function createContext(options: { config?: string; dryRun?: boolean; quiet?: boolean }, processEnv = process.env): Context {
  const configFile = resolveConfigPath(options.config, processEnv)
  const config = loadConfig(configFile)
  const env = loadEnvFile(configFile, processEnv)
  return {
    config,
    env,
    clock: createClock(env),
    log: createLog(process.stderr, options.quiet),
    dryRun: Boolean(options.dryRun),
    interactive: isInteractive(),
    runId: randomBytes(4).toString('hex'),
  }
}
