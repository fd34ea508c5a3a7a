// Where a peer's pull may go, checked on the real filesystem: down through real directories of
// its own complete replicas only. A symlink is sent as a link, never followed. (With --fake-super
// a received symlink is even stored as a plain file holding its munged target.)
import { lstatSync } from 'node:fs'
import { join } from 'node:path'

/** Returns why `path` (already syntax-checked) may not be pulled from `originDir`, or undefined. */
export function pullPathProblem(originDir: string, path: string): string | undefined {
  const parts = path.replace(/\/+$/, '').split('/')
  let here = originDir
  for (const [index, part] of parts.entries()) {
    here = join(here, part)
    let stat
    try {
      stat = lstatSync(here)
    } catch {
      return `"${path.slice(0, 80)}" does not exist`
    }
    const last = index === parts.length - 1
    const throughIt = !last || path.endsWith('/')
    if (stat.isSymbolicLink() && throughIt) return `"${path.slice(0, 80)}" goes through a symlink`
    if (throughIt && !stat.isDirectory()) return `"${path.slice(0, 80)}" goes through something that is not a directory`
  }
  return undefined
}
