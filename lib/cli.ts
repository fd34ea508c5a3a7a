// Argument parsing shared by every command: minimist fully declared, unknown options are usage errors.
import minimist from 'minimist'
import { createContext, type Context } from './context.ts'
import { reportError, UsageError } from './exit.ts'

export type CommandSpec = {
  /** The whole --help text: synopsis, options, exit codes, an example. */
  usage: string
  string?: string[]
  boolean?: string[]
  alias?: Record<string, string>
  default?: Record<string, unknown>
  /** Positional arguments allowed: [min, max]. */
  positional?: [number, number]
}

export type Args = minimist.ParsedArgs

const COMMON_STRING = ['config']
const COMMON_BOOLEAN = ['help', 'verbose', 'quiet']

export function parseArgs(argv: string[], spec: CommandSpec): Args {
  const known = new Set([...COMMON_STRING, ...COMMON_BOOLEAN, ...(spec.string ?? []), ...(spec.boolean ?? [])])
  for (const [short, long] of Object.entries(spec.alias ?? {})) known.add(short).add(long)
  const args = minimist(argv, {
    string: [...COMMON_STRING, ...(spec.string ?? [])],
    boolean: [...COMMON_BOOLEAN, ...(spec.boolean ?? [])],
    alias: { h: 'help', ...spec.alias },
    default: spec.default,
    unknown: (arg) => {
      if (arg.startsWith('-') && !known.has(arg.replace(/^--?(no-)?/, '').split('=')[0])) {
        throw new UsageError(`unknown option ${arg.split('=')[0]}`, 'See --help.')
      }
      return true
    },
  })
  if (args.help) return args
  for (const name of spec.string ?? []) {
    if (Array.isArray(args[name])) throw new UsageError(`--${name} was given more than once`)
    if (args[name] === '' && argv.some((a) => a === `--${name}` || a.startsWith(`--${name}=`))) {
      throw new UsageError(`--${name} needs a value`)
    }
  }
  const [min, max] = spec.positional ?? [0, 0]
  const count = args._.length
  if (count < min) throw new UsageError(`missing argument`, `Usage: ${spec.usage.trim().split('\n')[0]}`)
  if (count > max) throw new UsageError(`unexpected argument ${JSON.stringify(String(args._[max]))}`, 'See --help.')
  return args
}

/**
 * The frame of every command: parse, --help, build the context, run, and turn what is
 * thrown into one sentence and an exit code.
 */
export async function runCommand(
  argv: string[],
  spec: CommandSpec,
  body: (ctx: Context, args: Args) => Promise<number>,
): Promise<number> {
  let args: Args | undefined
  try {
    args = parseArgs(argv, spec)
    if (args.help) {
      process.stdout.write(`${spec.usage.trim()}\n`)
      return 0
    }
    const ctx = createContext({ config: args.config, dryRun: args['dry-run'], quiet: args.quiet })
    return await body(ctx, args)
  } catch (err) {
    return reportError(err, Boolean(args?.verbose))
  }
}
