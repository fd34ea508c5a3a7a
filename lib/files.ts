// Walking a tree without following links: how many files it holds, and which.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'

/** Everything that is not a directory, relative to `dir`, but under the top-level names in `skip`; stops once `limit` are found. */
export function listFiles(dir: string, limit = Infinity, skip: string[] = []): string[] {
  const found: string[] = []
  const pending = ['']
  while (pending.length > 0 && found.length < limit) {
    const relative = pending.pop()!
    let entries
    try {
      entries = readdirSync(join(dir, relative), { withFileTypes: true })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw err
    }
    for (const entry of entries) {
      const path = relative ? `${relative}/${entry.name}` : entry.name
      if (!relative && skip.includes(entry.name)) continue
      if (entry.isDirectory()) pending.push(path)
      else if (found.push(path) >= limit) break
    }
  }
  return found
}

/** Files under `dir`, counting at most `limit`: enough to tell "empty" or "fewer than" cheaply. */
export function countFiles(dir: string, limit = Infinity, skip: string[] = []): number {
  return listFiles(dir, limit, skip).length
}

/** An empty directory tree holds no data: `init` may have made folders, a restore may still go there. */
export const holdsNoFiles = (dir: string) => countFiles(dir, 1) === 0
