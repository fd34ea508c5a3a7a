// What `serve` lets a peer's rsync do: a strict allow-list in the spirit of rrsync. A request is
// either a push into the peer's own `.incomplete` or a pull from its own complete replicas.
import { isSnapshotName } from './clock.ts'
import { isInplaceRequest } from './modes.ts'
import { INCOMPLETE } from './paths.ts'

export type RsyncRequest = { direction: 'receive' | 'send'; options: string[]; path: string }
export type Refusal = { refused: string }

// Short options that neither follow symlinks out (L k K), change path meaning (R), run or
// redirect anything (e with a command, T, b), nor hide arguments from us (s, secluded-args).
const SHORT_ALLOWED = 'ACDEHIJNOSUWXcdgilmnoprtuvxyz'

// A pull may name its files on stdin (restore --path, verify --sample): rsync then sends -R and
// resolves each name under the source, inside serve's --confine-root. Never on a write.
const SENDER_SHORT_ALLOWED = `${SHORT_ALLOWED}R`
const SENDER_LONG_ALLOWED: Record<string, RegExp | undefined> = { 'files-from': /^-$/, 'from0': undefined }
// A snapshot-mode write of just what changed (lib/changed-paths.ts) names its files too: rsync then
// sends -R, --no-r, and --delete-missing-args for names gone at the source. Only with --inplace,
// whose `.incomplete` is a private snapshot (serve refuses --inplace elsewhere).
const LISTED_WRITE_SHORT_ALLOWED = `${SHORT_ALLOWED}R`
const LISTED_WRITE_LONG_ALLOWED: Record<string, RegExp | undefined> = { 'delete-missing-args': undefined, 'no-r': undefined }
const SHORT_CLUSTER = /^-([A-Za-z]*?)(e\d*\.[A-Za-z]*)?$/

// Long options allowed, with the shape of their value (undefined: takes none).
const LONG_ALLOWED: Record<string, RegExp | undefined> = {
  'delete': undefined, 'delete-before': undefined, 'delete-during': undefined, 'delete-delay': undefined,
  'delete-after': undefined, 'delete-excluded': undefined, 'stats': undefined, 'numeric-ids': undefined,
  'inplace': undefined, 'no-W': undefined, 'no-whole-file': undefined, 'sparse': undefined, 'partial': undefined,
  'force': undefined, 'safe-links': undefined, 'fsync': undefined, 'checksum': undefined, 'dry-run': undefined,
  'ignore-times': undefined, 'size-only': undefined, 'one-file-system': undefined, 'preallocate': undefined,
  'open-noatime': undefined, 'use-qsort': undefined, 'msgs2stderr': undefined, 'no-msgs2stderr': undefined,
  'new-compress': undefined, 'old-compress': undefined, 'fake-super': undefined, 'munge-links': undefined,
  'timeout': /^\d{1,6}$/, 'bwlimit': /^\d{1,9}(\.\d+)?[KMGkmg]?$/, 'log-format': /^[%a-zA-Z' ]{1,32}$/,
  'compress-level': /^\d$/, 'checksum-choice': /^[a-z0-9,]{1,32}$/, 'compress-choice': /^[a-z0-9]{1,16}$/,
  'max-delete': /^\d{1,9}$/, 'block-size': /^\d{1,9}$/, 'checksum-seed': /^\d{1,10}$/, 'modify-window': /^-?\d{1,4}$/,
}

export const MAX_REQUEST_LENGTH = 4096

/** Splits the way rsync quotes its remote arguments: whitespace separates, backslash escapes. */
function splitWords(line: string): string[] {
  return (line.match(/(?:[^\s\\]|\\.)+/g) ?? []).map((w) => w.replace(/\\(.)/g, '$1'))
}

type Allowed = { short: string; long: Record<string, RegExp | undefined> }

function allowedOptions(direction: RsyncRequest['direction'], options: readonly string[]): Allowed {
  if (direction === 'send') return { short: SENDER_SHORT_ALLOWED, long: { ...LONG_ALLOWED, ...SENDER_LONG_ALLOWED } }
  if (isInplaceRequest(options)) return { short: LISTED_WRITE_SHORT_ALLOWED, long: { ...LONG_ALLOWED, ...LISTED_WRITE_LONG_ALLOWED } }
  return { short: SHORT_ALLOWED, long: LONG_ALLOWED }
}

function checkOption(word: string, { short: shortAllowed, long: longAllowed }: Allowed): string | undefined {
  const cluster = SHORT_CLUSTER.exec(word)
  if (cluster && !word.startsWith('--')) {
    const bad = [...cluster[1]].find((letter) => !shortAllowed.includes(letter))
    return bad ? `option -${bad} is not allowed` : undefined
  }
  const long = /^--([a-zA-Z0-9-]+)(?:=(.*))?$/.exec(word)
  if (!long) return `"${word.slice(0, 40)}" is not an rsync option famlab allows`
  const [, name, value] = long
  if (!(name in longAllowed)) return `option --${name} is not allowed`
  const shape = longAllowed[name]
  if (shape === undefined && value !== undefined) return `option --${name} takes no value`
  if (shape !== undefined && (value === undefined || !shape.test(value))) return `option --${name} has a value famlab does not allow`
  return undefined
}

/** A pull may name a complete replica or a path inside one; nothing else, and never `..`. */
function checkSendPath(path: string): string | undefined {
  const parts = path.replace(/\/+$/, '').split('/')
  if (path.startsWith('/')) return 'absolute paths are not allowed'
  if (parts.some((p) => p === '..' || p === '.' || p === '')) return 'the path may not contain "..", "." or "//"'
  if (!isSnapshotName(parts[0])) return `"${parts[0]}" is not a snapshot name`
  return undefined
}

export function parseRsyncRequest(line: string): RsyncRequest | Refusal {
  if (line.length > MAX_REQUEST_LENGTH) return { refused: 'the request is too long' }
  const words = splitWords(line)
  if (words[0] !== 'rsync' || words[1] !== '--server') return { refused: 'not an rsync server request' }
  let rest = words.slice(2)
  const direction = rest[0] === '--sender' ? 'send' : 'receive'
  if (direction === 'send') rest = rest.slice(1)
  const dot = rest.indexOf('.')
  if (dot < 0) return { refused: 'the rsync request has no path' }
  const options = rest.slice(0, dot)
  const paths = rest.slice(dot + 1)
  const allowed = allowedOptions(direction, options)
  for (const option of options) {
    const problem = checkOption(option, allowed)
    if (problem) return { refused: problem }
  }
  if (paths.length !== 1) return { refused: 'exactly one path is allowed' }
  const path = paths[0]
  if (direction === 'receive') {
    if (path.replace(/\/$/, '') !== INCOMPLETE) return { refused: `writes go only to ${INCOMPLETE}/, not "${path.slice(0, 80)}"` }
  } else {
    const problem = checkSendPath(path)
    if (problem) return { refused: problem }
  }
  return { direction, options, path }
}
