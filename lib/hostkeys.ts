// Pinned host keys: a member whose sshd presents another key is refused, never re-pinned silently.
// Each refusal is recorded (history.jsonl, step "host-key", and <state>/host-key-refusals.json for
// `report`); only the admin's explicit `famlab repin` changes a pin.
import { createHash } from 'node:crypto'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Config } from './config.ts'
import type { Context } from './context.ts'
import { run } from './exec.ts'
import { recordStep } from './history.ts'
import type { Member } from './members.ts'
import { readJsonFile, writeStateFile } from './state.ts'

export type HostKeyRefusal = {
  peer: string
  /** First and latest refusal since the pin last worked. */
  since: string
  last: string
  count: number
  /** SHA256 fingerprints: the one we pinned and, when ssh told us, the one presented. */
  pinned: string
  presented?: string
  /** The run that recorded the latest refusal. */
  run?: string
}

const HOST_KEY_FAILURE = /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|host key .* (has changed|differs)/i

export const refusalsFile = (config: Config) => join(config.state, 'host-key-refusals.json')

export function isHostKeyFailure(stderr: string): boolean {
  return HOST_KEY_FAILURE.test(stderr)
}

/** `SHA256:…` as `ssh-keygen -l` prints it, for an `ssh-ed25519 AAAA…` line. */
export function keyFingerprint(publicKey: string): string {
  const blob = Buffer.from(publicKey.trim().split(/\s+/)[1] ?? '', 'base64')
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`
}

export function hostKeyRefusals(config: Config): HostKeyRefusal[] {
  return Object.values(readJsonFile<Record<string, HostKeyRefusal>>(refusalsFile(config)) ?? {})
}

export function recordHostKeyRefusal(ctx: Context, peer: Member, stderr: string): void {
  const now = ctx.clock.now().toISOString()
  const all = readJsonFile<Record<string, HostKeyRefusal>>(refusalsFile(ctx.config)) ?? {}
  const previous = all[peer.name]
  // One refusal per run: a run asks a peer more than once before it gives up on it.
  if (previous?.run === ctx.runId) return
  const presented = /(SHA256:[A-Za-z0-9+/]{43})/.exec(stderr)?.[1]
  const pinned = keyFingerprint(peer.host_key)
  all[peer.name] = { peer: peer.name, since: previous?.since ?? now, last: now, count: (previous?.count ?? 0) + 1, pinned, presented, run: ctx.runId }
  writeStateFile(ctx.config, refusalsFile(ctx.config), `${JSON.stringify(all, null, 2)}\n`)
  const message = `the host key of ${peer.name} at ${peer.host}:${peer.port} is not the pinned ${pinned}${presented ? ` (it presented ${presented})` : ''}; refused. If ${peer.name} was reinstalled, check its fingerprint and run: famlab repin ${peer.name} --fingerprint SHA256:…`
  recordStep(ctx, { step: 'host-key', peer: peer.name, result: 'refused', message })
  ctx.log.warn('host-key', message, peer.name)
}

export function clearHostKeyRefusal(config: Config, peer: string): void {
  const all = readJsonFile<Record<string, HostKeyRefusal>>(refusalsFile(config))
  if (!all?.[peer]) return
  delete all[peer]
  if (Object.keys(all).length === 0) rmSync(refusalsFile(config), { force: true })
  else writeStateFile(config, refusalsFile(config), `${JSON.stringify(all, null, 2)}\n`)
}

/** The ed25519 host key a member's sshd presents now (ssh-keyscan), or undefined when unreachable. */
export async function scanHostKey(member: Member): Promise<string | undefined> {
  const scan = await run(['ssh-keyscan', '-T', '10', '-t', 'ed25519', '-p', String(member.port), member.host], { timeoutMs: 20_000 })
  const line = scan.stdout.split('\n').find((l) => /\sssh-ed25519\s/.test(l) && !l.startsWith('#'))
  return line ? line.trim().split(/\s+/).slice(1, 3).join(' ') : undefined
}
