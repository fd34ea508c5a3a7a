// Checks a btrfs send stream (protocol 1) before root's `btrfs receive` sees it. The stream comes
// from a peer, and receive runs as root: it may create exactly one subvolume named as agreed,
// touch paths only inside it, clone only from itself or an agreed parent, set no security.* or
// trusted.* xattr, and stay under a size limit. Anything else stops the transfer. (Setuid files and
// device nodes are received as they are: root-side replicas are out of ssh.user's reach.)
import { Transform, type TransformCallback } from 'node:stream'

const MAGIC = Buffer.from('btrfs-stream\0', 'latin1')
export const STREAM_HEADER = MAGIC.length + 4
export const COMMAND_HEADER = 10
/** Protocol 1 commands carry at most 64 KiB of data; anything far larger is not a send stream. */
const MAX_COMMAND = 1 << 20

// btrfs-progs common/send-stream.h / kernel fs/btrfs/send.h
export const CMD = {
  SUBVOL: 1, SNAPSHOT: 2, MKFILE: 3, MKDIR: 4, MKNOD: 5, MKFIFO: 6, MKSOCK: 7, SYMLINK: 8, RENAME: 9, LINK: 10,
  UNLINK: 11, RMDIR: 12, SET_XATTR: 13, REMOVE_XATTR: 14, WRITE: 15, CLONE: 16, TRUNCATE: 17, CHMOD: 18,
  CHOWN: 19, UTIMES: 20, END: 21, UPDATE_EXTENT: 22,
} as const
export const ATTR = { UUID: 1, CTRANSID: 2, XATTR_NAME: 13, PATH: 15, PATH_TO: 16, PATH_LINK: 17, CLONE_UUID: 20, CLONE_PATH: 22 } as const
const KNOWN_COMMANDS = new Set<number>(Object.values(CMD))

export type StreamLimits = {
  /** The one subvolume the stream may create: the snapshot's name. */
  subvolume: string
  /** UUIDs (as received_uuid, hex without dashes) the stream may use as parent or clone source. */
  parents: ReadonlySet<string>
  maxBytes: number
}

export class StreamRefused extends Error {}

type Attributes = Map<number, Buffer>

export function parseAttributes(payload: Buffer): Attributes {
  const attributes: Attributes = new Map()
  for (let at = 0; at < payload.length;) {
    if (at + 4 > payload.length) throw new StreamRefused('a command attribute is cut short')
    const type = payload.readUInt16LE(at)
    const length = payload.readUInt16LE(at + 2)
    if (at + 4 + length > payload.length) throw new StreamRefused('a command attribute is cut short')
    attributes.set(type, payload.subarray(at + 4, at + 4 + length))
    at += 4 + length
  }
  return attributes
}

/** Paths inside the received subvolume: relative, no `..`, `.` or empty components ("" is its root). */
function checkPath(value: Buffer | undefined, what: string): void {
  if (value === undefined || value.length === 0) return
  const path = value.toString('latin1')
  if (path.includes('\0') || path.startsWith('/') || path.split('/').some((p) => p === '..' || p === '.' || p === '')) {
    throw new StreamRefused(`${what} "${path.slice(0, 60)}" leads outside the received subvolume`)
  }
}

const hex = (uuid: Buffer | undefined) => uuid?.toString('hex') ?? ''

/** Validates one command; `self` is the UUID of the subvolume the stream creates. */
export function checkCommand(command: number, attributes: Attributes, limits: StreamLimits, state: { self?: string }): void {
  if (!KNOWN_COMMANDS.has(command)) throw new StreamRefused(`unknown send stream command ${command}`)
  if (command === CMD.SUBVOL || command === CMD.SNAPSHOT) {
    if (state.self !== undefined) throw new StreamRefused('the stream creates more than one subvolume')
    const name = attributes.get(ATTR.PATH)?.toString('latin1')
    if (name !== limits.subvolume) throw new StreamRefused(`the stream creates "${name?.slice(0, 60)}", not ${limits.subvolume}`)
    if (command === CMD.SNAPSHOT && !limits.parents.has(hex(attributes.get(ATTR.CLONE_UUID)))) {
      throw new StreamRefused('the stream names a parent this holder did not receive from its origin')
    }
    state.self = hex(attributes.get(ATTR.UUID))
    return
  }
  if (state.self === undefined) throw new StreamRefused('the stream does not start with its subvolume')
  checkPath(attributes.get(ATTR.PATH), 'path')
  checkPath(attributes.get(ATTR.PATH_TO), 'path')
  checkPath(attributes.get(ATTR.CLONE_PATH), 'clone path')
  if (command === CMD.LINK) checkPath(attributes.get(ATTR.PATH_LINK), 'link')
  if (command === CMD.CLONE) {
    const source = hex(attributes.get(ATTR.CLONE_UUID))
    if (source !== state.self && !limits.parents.has(source)) throw new StreamRefused('the stream clones from a subvolume outside its origin')
  }
  if (command === CMD.SET_XATTR || command === CMD.REMOVE_XATTR) {
    const name = attributes.get(ATTR.XATTR_NAME)?.toString('latin1') ?? ''
    if (/^(security|trusted)\./.test(name)) throw new StreamRefused(`the stream sets the xattr ${name.slice(0, 40)}`)
  }
}

/** Passes a send stream through command by command, each only after it was checked. */
export function streamChecker(limits: StreamLimits): Transform {
  let pending: Buffer = Buffer.alloc(0)
  let total = 0
  let headerSeen = false
  let ended = false
  const state: { self?: string } = {}
  return new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      total += chunk.length
      if (total > limits.maxBytes) return done(new StreamRefused(`the stream exceeds ${limits.maxBytes} bytes`))
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk
      try {
        let at = 0
        if (!headerSeen) {
          if (pending.length < STREAM_HEADER) return done()
          if (!pending.subarray(0, MAGIC.length).equals(MAGIC)) throw new StreamRefused('not a btrfs send stream')
          if (pending.readUInt32LE(MAGIC.length) !== 1) throw new StreamRefused('only send stream protocol 1 is accepted')
          headerSeen = true
          at = STREAM_HEADER
        }
        while (pending.length - at >= COMMAND_HEADER) {
          const length = pending.readUInt32LE(at)
          if (length > MAX_COMMAND) throw new StreamRefused('a send stream command is implausibly large')
          if (pending.length - at < COMMAND_HEADER + length) break
          if (ended) throw new StreamRefused('the stream goes on after its end')
          const command = pending.readUInt16LE(at + 4)
          checkCommand(command, parseAttributes(pending.subarray(at + COMMAND_HEADER, at + COMMAND_HEADER + length)), limits, state)
          if (command === CMD.END) ended = true
          at += COMMAND_HEADER + length
        }
        const checked = pending.subarray(0, at)
        pending = pending.subarray(at)
        done(null, checked.length ? Buffer.from(checked) : undefined)
      } catch (err) {
        done(err as Error)
      }
    },
    flush(done: TransformCallback) {
      if (pending.length || !ended) return done(new StreamRefused('the stream ended before its end command'))
      done()
    },
  })
}
