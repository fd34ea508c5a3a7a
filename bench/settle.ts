// What a famlab run leaves running on the family's holders: the idle-priority measurement of
// what replicas use (`serve --measure-space`). The bench waits it out before the next timed run,
// famlab's or bare's, so neither runs beside it, and reports how long it took.
import { run } from '../lib/exec.ts'

export async function settle(familyBase: string): Promise<number> {
  const started = performance.now()
  while ((await run(['pgrep', '-f', `measure-space --config ${familyBase}/`])).ok) await new Promise((resolve) => setTimeout(resolve, 250))
  return (performance.now() - started) / 1000
}

/**
 * Writes out what the previous operation left dirty, before the clock starts: a btrfs snapshot
 * commits the whole filesystem's transaction, so the next tool to take one (famlab's send and
 * snapshot modes do) would otherwise pay for the writeback of, say, bare rsync's 150,000 links.
 */
export async function flushWrites(): Promise<void> {
  await run(['sync'])
}
