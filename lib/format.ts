// Short human forms for tables and mail: sizes in binary units, ages in hours or days.

const UNITS = ['B', 'K', 'M', 'G', 'T', 'P']

/** `1.5G`, `820M`, `0B`: at most five characters, for 80-column tables. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '?'
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024
    unit++
  }
  const digits = unit === 0 || value >= 10 ? 0 : 1
  return `${value.toFixed(digits)}${UNITS[unit]}`
}

/** `45m`, `25h`, `3d`: how long ago `since` was at `now`. */
export function formatAge(since: Date | string | null | undefined, now: Date): string {
  if (!since) return 'never'
  return formatDuration(now.getTime() - new Date(since).getTime())
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '?'
  if (ms < 0) return 'future'
  const minutes = Math.floor(ms / 60_000)
  if (minutes < 60) return `${minutes}m`
  const hours = Math.floor(minutes / 60)
  return hours < 72 ? `${hours}h` : `${Math.floor(hours / 24)}d`
}

export const hoursBetween = (earlier: Date | string, later: Date) => (later.getTime() - new Date(earlier).getTime()) / 3_600_000

/** Cuts a line to `width` characters, marking the cut. */
export function fit(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`
}
