// The config file: one schema table, validated once into a frozen, typed object (CONTRACT: Config file).
import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { basename, dirname, isAbsolute, join, resolve } from 'node:path'
import { parse as parseEnv } from 'dotenv'
import YAML from 'yaml'
import { ConfigError } from './exit.ts'
import { parsePolicy, type RetentionPolicy } from './retention.ts'

export const REPLICATION_MODES = ['auto', 'link-dest', 'snapshot', 'send'] as const

export type Config = {
  readonly file: string
  readonly node: string
  readonly root: string
  readonly listen: { readonly host: string; readonly port: number }
  readonly ssh: {
    readonly user: string
    readonly identity: string
    readonly authorized_keys: string
    readonly host_key: string
  }
  readonly state: string
  readonly capacity: { readonly local_fraction: number }
  readonly timemachine: { readonly quiet_minutes: number; readonly wait_minutes: number; readonly max_size: string }
  readonly retention: { readonly local: RetentionPolicy; readonly replicas: RetentionPolicy }
  readonly replication: {
    readonly mode: (typeof REPLICATION_MODES)[number]
    readonly bwlimit_kbps: number
    readonly timeout_s: number
  }
  readonly recovery: { readonly auto: boolean }
  readonly alerts: {
    readonly offline_hours: number
    readonly stale_hours: number
    readonly storage_full_percent: number
    readonly mailto: string
    readonly warn_days: number
  }
  /** More directories backed up beside local/, each under `sources/<name>` in the snapshot. */
  readonly sources: readonly Source[]
  readonly family: { readonly copies: number | 'all' }
}

export type Source = { readonly name: string; readonly path: string }

export const DEFAULT_CONFIG_PATH = '/etc/famlab/famlab.yaml'
export const NODE_NAME = /^[a-z][a-z0-9-]{0,31}$/

// A field checker returns the clean value, or a phrase saying what was wrong.
type Check = (value: unknown) => { value: unknown } | { error: string }
type Doc = Record<string, any>
type Field = { check: Check; default?: unknown | ((doc: Doc) => unknown) }
type Schema = { [key: string]: Field | Schema }

const show = (v: unknown) => JSON.stringify(v) ?? String(v)

const text = (pattern?: RegExp, expected?: string): Check => (v) =>
  typeof v !== 'string' || v === '' ? { error: `must be a non-empty string, got ${show(v)}` }
    : pattern && !pattern.test(v) ? { error: `is ${show(v)}, expected ${expected}` }
    : { value: v }

const absolutePath: Check = (v) =>
  typeof v === 'string' && isAbsolute(v) ? { value: resolve(v) } : { error: `must be an absolute path, got ${show(v)}` }

const number = (min: number, max: number, integer = false): Check => (v) =>
  typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))
    ? { error: `must be ${integer ? 'an integer' : 'a number'}, got ${show(v)}` }
    : v < min || v > max ? { error: `is ${v}, expected ${min} to ${max}` }
    : { value: v }

const oneOf = (values: readonly string[]): Check => (v) =>
  typeof v === 'string' && values.includes(v) ? { value: v } : { error: `is ${show(v)}, expected one of ${values.join(', ')}` }

const bool: Check = (v) => (typeof v === 'boolean' ? { value: v } : { error: `must be true or false, got ${show(v)}` })

const retention: Check = (v) => {
  if (typeof v !== 'string') return { error: `must be a string like "14d 8w 12m *y", got ${show(v)}` }
  const policy = parsePolicy(v)
  return typeof policy === 'string' ? { error: `${policy}` } : { value: policy }
}

const SOURCE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/** `sources:` entries: a path (named by its last component) or `{name, path}`. Paths are checked when used. */
const sourceList: Check = (v) => {
  if (!Array.isArray(v)) return { error: `must be a list of directories, got ${show(v)}` }
  const sources: Source[] = []
  for (const [i, entry] of v.entries()) {
    const where = `entry ${i + 1} (${show(entry)})`
    const { name, path, ...rest } = typeof entry === 'string' ? { path: entry, name: basename(entry) } : isMapping(entry) ? entry : {} as Doc
    if (Object.keys(rest).length) return { error: `${where} has unknown keys ${Object.keys(rest).join(', ')} (known: name, path)` }
    if (typeof path !== 'string' || !isAbsolute(path)) return { error: `${where} needs an absolute path` }
    if (typeof name !== 'string' || !SOURCE_NAME.test(name)) return { error: `${where} needs a name matching [A-Za-z0-9][A-Za-z0-9._-]{0,63} (write {name: …, path: …})` }
    if (sources.some((s) => s.name === name)) return { error: `${where}: the name "${name}" is used twice` }
    sources.push({ name, path: resolve(path) })
  }
  return { value: sources }
}

const copies: Check = (v) =>
  v === 'all' || (typeof v === 'number' && Number.isInteger(v) && v >= 1) ? { value: v } : { error: `is ${show(v)}, expected a number of copies (1 or more) or "all"` }

const SCHEMA: Schema = {
  node: { check: text(NODE_NAME, 'a name matching [a-z][a-z0-9-]{0,31}') },
  root: { check: absolutePath },
  listen: {
    host: { check: text(/^[A-Za-z0-9.:_-]+$/, 'a host name or address'), default: () => hostname() },
    port: { check: number(1, 65535, true), default: 22 },
  },
  ssh: {
    user: { check: text(/^(?!root$)[a-z_][a-z0-9_-]{0,31}$/, 'a non-root Unix user name (peers log in as it)'), default: 'famlab' },
    identity: { check: absolutePath, default: (doc: Doc) => join(doc.state, 'id_ed25519') },
    authorized_keys: { check: absolutePath, default: (doc: Doc) => join(doc.state, 'authorized_keys') },
    host_key: { check: absolutePath, default: '/etc/ssh/ssh_host_ed25519_key.pub' },
  },
  state: { check: absolutePath, default: '/var/lib/famlab' },
  capacity: {
    local_fraction: { check: number(0.01, 1), default: 0.334 },
  },
  timemachine: {
    quiet_minutes: { check: number(0, 1440, true), default: 10 },
    wait_minutes: { check: number(0, 10080, true), default: 120 },
    max_size: { check: text(/^\d+(\.\d+)?[KMGTP]$/, 'a size like 500G or 1T'), default: '1T' },
  },
  retention: {
    local: { check: retention, default: '48h 14d' },
    replicas: { check: retention, default: '14d 8w 12m *y' },
  },
  replication: {
    mode: { check: oneOf(REPLICATION_MODES), default: 'auto' },
    bwlimit_kbps: { check: number(0, 10_000_000, true), default: 0 },
    timeout_s: { check: number(1, 86400, true), default: 600 },
  },
  recovery: {
    auto: { check: bool, default: false },
  },
  alerts: {
    offline_hours: { check: number(0, 100000), default: 24 },
    stale_hours: { check: number(0, 100000), default: 36 },
    storage_full_percent: { check: number(1, 100), default: 90 },
    mailto: { check: text(/^[^\s,]+(,[^\s,]+)*$/, 'mail addresses separated by commas'), default: 'root' },
    warn_days: { check: number(1, 3650), default: 14 },
  },
  sources: { check: sourceList, default: [] },
  family: {
    copies: { check: copies, default: 'all' },
  },
}

const isField = (entry: Field | Schema): entry is Field => typeof (entry as Field).check === 'function'
const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Validates a parsed document against the schema; `doc` is the whole result so far, for derived defaults. */
function validate(file: string, input: unknown, schema: Schema, prefix: string, doc: Record<string, any>): Record<string, unknown> {
  const fail = (key: string, message: string): never => {
    throw new ConfigError(`${file}: ${key} ${message}`)
  }
  if (!isMapping(input)) fail(prefix ? prefix.slice(0, -1) : 'the document', `must be a mapping of keys, got ${show(input)}`)
  const values = input as Record<string, unknown>
  for (const key of Object.keys(values)) {
    if (!(key in schema)) fail(`${prefix}${key}`, `is not a known setting (known here: ${Object.keys(schema).join(', ')})`)
  }
  const out: Record<string, unknown> = prefix ? {} : doc
  // Plain fields first, so that derived defaults (ssh.identity from state) can see them.
  const keys = Object.keys(schema).sort((a, b) => Number(!isField(schema[a])) - Number(!isField(schema[b])))
  for (const key of keys) {
    const entry = schema[key]
    const path = `${prefix}${key}`
    if (!isField(entry)) {
      out[key] = validate(file, values[key] ?? {}, entry, `${path}.`, doc)
      continue
    }
    let value = values[key]
    if (value === undefined || value === null) {
      if (entry.default === undefined) fail(path, 'is required')
      value = typeof entry.default === 'function' ? (entry.default as (d: Record<string, any>) => unknown)(doc) : entry.default
    }
    const result = entry.check(value)
    if ('error' in result) fail(path, result.error)
    else out[key] = result.value
  }
  return out
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner)
    Object.freeze(value)
  }
  return value
}

/** Parses and validates config text; `file` names the source in every message. */
export function parseConfig(file: string, source: string): Config {
  let parsed: unknown
  try {
    parsed = YAML.parse(source, { maxAliasCount: 50, prettyErrors: false, uniqueKeys: true })
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err)
    throw new ConfigError(`${file}: not valid YAML: ${reason}`)
  }
  const doc: Record<string, any> = { file }
  validate(file, parsed ?? {}, SCHEMA, '', doc)
  return deepFreeze(doc as Config)
}

export function resolveConfigPath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return resolve(flag || env.FAMLAB_CONFIG || DEFAULT_CONFIG_PATH)
}

export function loadConfig(file: string): Config {
  let source: string
  try {
    source = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : code
    throw new ConfigError(`${file}: cannot read the config file (${why})`, 'Pass --config PATH or set FAMLAB_CONFIG.')
  }
  return parseConfig(file, source)
}

/** `famlab.env` beside the config (dotenv): optional overrides; the real environment wins. */
export function loadEnvFile(configFile: string, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const file = join(dirname(configFile), 'famlab.env')
  let source: string
  try {
    source = readFileSync(file, 'utf8')
  } catch {
    return env
  }
  return { ...parseEnv(source), ...env }
}
