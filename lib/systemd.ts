// What systemd knows about a unit, for the failure mail: its status and the journal of its
// last run. Without a running systemd (containers, cron-only boxes) the mail says so instead.
import { run } from './exec.ts'

/** Unit names as systemd writes them (`famlab-backup.service`, `famlab-notify@x.service`). */
export const UNIT_NAME = /^[A-Za-z0-9@._:\\-]{1,256}$/

const TIMEOUT_MS = 30_000

async function output(cmd: string[]): Promise<string> {
  const result = await run(cmd, { timeoutMs: TIMEOUT_MS })
  return (result.stdout + result.stderr).trim() || `(${cmd[0]} printed nothing, exit ${result.code})`
}

/** `systemctl status` and the journal of the unit's last invocation (or its last 200 lines). */
export async function describeUnit(unit: string): Promise<{ status: string; journal: string }> {
  const status = await output(['systemctl', 'status', '--no-pager', '--full', '--lines=0', '--', unit])
  const invocation = (await run(['systemctl', 'show', '--property=InvocationID', '--value', '--', unit], { timeoutMs: TIMEOUT_MS })).stdout.trim()
  const journal = await output(/^[0-9a-f]{32}$/.test(invocation)
    ? ['journalctl', '--no-pager', '--output=short-iso', `_SYSTEMD_INVOCATION_ID=${invocation}`]
    : ['journalctl', '--no-pager', '--output=short-iso', '--lines=200', '--unit', unit])
  return { status, journal }
}
