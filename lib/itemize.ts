// Reads rsync's --itemize-changes lines (rsync(1) "--itemize-changes") as differences people read.
// verify pulls the peer's replica onto the local snapshot with --dry-run, so an item is what
// the replica has that the snapshot has not.

export type Difference = { path: string; what: string[] }

// Positions 2..10 of `YXcstpoguax`, and what a letter there means.
const ATTRIBUTES: [number, string, string][] = [
  [2, 'c', 'contents'], [3, 's', 'size'], [4, 't', 'mtime'], [5, 'p', 'permissions'], [6, 'o', 'owner'],
  [7, 'g', 'group'], [9, 'a', 'ACL'], [10, 'x', 'xattrs'],
]

const ITEM = /^([<>ch.])([fdLDS])([.+ cstTpoguaxn?]{9}) (.+)$/

/** One itemized line, or undefined for anything else rsync printed (stats, warnings). */
export function parseItemizedLine(line: string): Difference | undefined {
  if (line.startsWith('*deleting ')) return { path: line.slice(10).trim(), what: ['missing from the replica'] }
  const m = ITEM.exec(line)
  if (!m) return undefined
  const [, update, type, attributes, rest] = m
  const flags = `${update}${type}${attributes}`
  const path = type === 'L' ? rest.replace(/ -> .*$/, '') : rest.replace(/ => .*$/, '')
  if (attributes.startsWith('+++')) return { path, what: ['only in the replica'] }
  if (update === 'h') return { path, what: ['hard link'] }
  const what = ATTRIBUTES.filter(([i, letter]) => flags[i] === letter).map(([, , word]) => (type === 'L' && word === 'contents' ? 'link target' : word))
  return what.length > 0 ? { path, what } : undefined
}

export function parseItemized(output: string): Difference[] {
  return output.split('\n').map(parseItemizedLine).filter((d): d is Difference => d !== undefined)
}
