// The transfer modes an integration suite runs in: FAMLAB_TEST_MODES="link-dest,snapshot".
// The default is snapshot, what `auto` means on the harness's btrfs holders (`make test-modes`
// runs the core suite in the others); snapshot-mode checks live in modes.test.ts.
import { TRANSFER_MODES, type TransferMode } from '../../lib/modes.ts'

export function testModes(env = process.env): TransferMode[] {
  const modes = (env.FAMLAB_TEST_MODES ?? 'snapshot').split(',').map((m) => m.trim()).filter(Boolean)
  for (const mode of modes) {
    if (!(TRANSFER_MODES as readonly string[]).includes(mode)) throw new Error(`FAMLAB_TEST_MODES: unknown mode "${mode}"`)
  }
  return modes as TransferMode[]
}

/** A node config for `mode`, keeping whatever else the test sets under replication. */
export function inMode(mode: TransferMode, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...extra, replication: { mode, ...(extra.replication as object | undefined) } }
}
