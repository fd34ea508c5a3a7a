// What a famlab run leaves running on the family's holders: the idle-priority measurement of
// what replicas use (`serve --measure-space`). The bench waits it out before the next timed run,
// famlab's or bare's, so neither runs beside it, and reports how long it took.
import { run } from '../lib/exec.ts'

export async function settle(familyBase: string): Promise<number> {
  const started = performance.now()
  while ((await run(['pgrep', '-f', `measure-space --config ${familyBase}/`])).ok) await new Promise((resolve) => setTimeout(resolve, 250))
  return (performance.now() - started) / 1000
}
