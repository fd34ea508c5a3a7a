// `--path SUBPATH`: one file or folder inside a snapshot, as a clean relative path.
import { UsageError } from './exit.ts'

/** `./docs//letters/` → `docs/letters`; refuses absolute paths and `..`. */
export function normalizeSubpath(option: string, text: string): string {
  const parts = text.split('/').filter((p) => p !== '' && p !== '.')
  if (text.startsWith('/')) throw new UsageError(`${option}: "${text}" must be relative to the snapshot, like timemachine/alice`)
  if (parts.length === 0) throw new UsageError(`${option}: "${text}" names no file or folder`)
  if (parts.includes('..')) throw new UsageError(`${option}: "${text}" may not contain ".."`)
  if (text.includes('\0')) throw new UsageError(`${option}: the path may not contain a NUL byte`)
  return parts.join('/')
}
