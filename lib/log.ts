// stderr is for people: `[step] peer: message`. Progress only when a person watches.

export type Log = {
  info(step: string, message: string, peer?: string): void
  warn(step: string, message: string, peer?: string): void
}

export function createLog(stream: NodeJS.WritableStream = process.stderr, quiet = false): Log {
  const line = (step: string, message: string, peer?: string) =>
    `[${step}] ${peer ? `${peer}: ` : ''}${message}\n`
  return {
    info: (step, message, peer) => { if (!quiet) stream.write(line(step, message, peer)) },
    warn: (step, message, peer) => { stream.write(line(step, message, peer)) },
  }
}

export function isInteractive(): boolean {
  return Boolean(process.stderr.isTTY) && !process.env.INVOCATION_ID
}
