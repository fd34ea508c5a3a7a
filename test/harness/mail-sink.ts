// A real SMTP sink on 127.0.0.1 (aiosmtpd writing a Maildir), and an msmtp config that makes
// /usr/sbin/sendmail (msmtp-mta) deliver to it for processes run with HOME=sink.home.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run } from '../../lib/exec.ts'
import { freePort } from './family.ts'

export type Message = { headers: Record<string, string>; body: string; raw: string }

export type MailSink = {
  port: number
  /** HOME for famlab: its .msmtprc points msmtp at this sink. */
  home: string
  messages(): Message[]
  stop(): Promise<void>
}


export function parseMessage(raw: string): Message {
  const [head, ...rest] = raw.replace(/\r\n/g, '\n').split('\n\n')
  const headers: Record<string, string> = {}
  for (const line of head.replace(/\n[ \t]+/g, ' ').split('\n')) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { headers, body: rest.join('\n\n'), raw }
}

export async function startMailSink(dir: string): Promise<MailSink> {
  const port = await freePort()
  const home = join(dir, 'home')
  const maildir = join(dir, 'maildir') // aiosmtpd's Mailbox creates it; an empty one it cannot use
  mkdirSync(home, { recursive: true })
  writeFileSync(join(home, '.msmtprc'), [
    'defaults', 'auth off', 'tls off', 'account default', 'host 127.0.0.1', `port ${port}`, 'from famlab@family.test', '',
  ].join('\n'), { mode: 0o600 })
  let sink: ChildProcess | undefined = spawn('/usr/bin/python3', ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '-c', 'aiosmtpd.handlers.Mailbox', maildir], { stdio: 'ignore' })
  for (let i = 0; i < 100; i++) {
    if ((await run(['bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`])).ok) break
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    port,
    home,
    messages: () => {
      const fresh = join(maildir, 'new')
      if (!existsSync(fresh)) return []
      return readdirSync(fresh).sort().map((f) => parseMessage(readFileSync(join(fresh, f), 'utf8')))
    },
    async stop() {
      if (!sink) return
      const exited = new Promise((r) => sink!.once('exit', r))
      sink.kill('SIGTERM')
      await exited
      sink = undefined
    },
  }
}
