// An encrypted storage disk: LUKS2 opened at boot with a root-only key file, a passphrase as
// the human fallback, btrfs inside. The decisions (entries, passphrase, signatures) are pure.
import { randomBytes, randomInt } from 'node:crypto'

/** `/etc/crypttab`: unlocked at boot with the key file; `discard` lets the SSD trim through LUKS. */
export function crypttabLine(name: string, luksUuid: string, keyFile: string): string {
  return `${name} UUID=${luksUuid} ${keyFile} luks,discard`
}

/** `nofail`: a dead disk must not keep the box (and its sshd) from booting. */
export function fstabLine(name: string, mountPoint: string): string {
  return `/dev/mapper/${name} ${mountPoint} btrfs defaults,noatime,nofail,x-systemd.device-timeout=30s 0 0`
}

/**
 * Replaces the line whose `field`-th word is `key`, or appends one; other lines stay as they were.
 * Returns the new text, and whether anything changed.
 */
export function withTableEntry(text: string, field: number, key: string, line: string): { text: string; changed: boolean } {
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n')
  const index = lines.findIndex((l) => !l.trimStart().startsWith('#') && l.trim().split(/\s+/)[field] === key)
  if (index >= 0 && lines[index] === line) return { text, changed: false }
  if (index >= 0) lines[index] = line
  else lines.push(line)
  return { text: `${lines.join('\n')}\n`, changed: true }
}

// No 0/O, 1/l/I: a passphrase is read off paper in a stressful moment.
const PASSPHRASE_ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789'

/** Eight groups of five: 200 bits, readable aloud. */
export function generatePassphrase(): string {
  const groups = Array.from({ length: 8 }, () => Array.from({ length: 5 }, () => PASSPHRASE_ALPHABET[randomInt(PASSPHRASE_ALPHABET.length)]).join(''))
  return groups.join('-')
}

export function generateKeyFile(): Buffer {
  return randomBytes(64)
}

/** What `blkid -p -o export` found on a device: its TYPE (a filesystem, LUKS, a partition table), if any. */
export function signatureOf(blkidExport: string): string | undefined {
  const fields = Object.fromEntries(blkidExport.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
  return fields.TYPE ?? (fields.PTTYPE ? `a ${fields.PTTYPE} partition table` : undefined)
}

export const MAPPER_NAME = /^[a-z][a-z0-9_-]{0,31}$/
