/**
 * Turning protocol errors into sentences people can act on (docs/ui.md: "clear messages for every
 * error code"). The node's own message is more specific when it has one, so it is appended.
 */
import { ERROR_CODES, ERROR_TEXT, type ErrorCode } from '../../../proto/client-protocol'

/** Not a node error: the client has no open connection to its node right now. */
export const DISCONNECTED = 'disconnected'
export type ClientErrorCode = ErrorCode | typeof DISCONNECTED

export class ProtocolError extends Error {
  constructor(
    readonly code: ClientErrorCode,
    message: string,
  ) {
    super(message)
    this.name = 'ProtocolError'
  }
}

export function isErrorCode(code: string): code is ErrorCode {
  return (ERROR_CODES as readonly string[]).includes(code)
}

export function errorText(code: string, nodeMessage?: string): string {
  const base =
    code === DISCONNECTED
      ? 'Not connected to the node; it will be retried when the connection is back.'
      : isErrorCode(code)
        ? ERROR_TEXT[code]
        : 'Unexpected error.'
  const detail = nodeMessage?.trim()
  if (!detail || detail === base || detail === code || restates(detail, base) || technical(detail)) return base
  return `${base} (${detail})`
}

/**
 * Detail meant for developers (socket errors, gRPC status text, stack lines, long dumps): a person
 * gets the plain sentence only, the detail goes to the protocol log (docs/ui.md, "Errors").
 */
function technical(detail: string): boolean {
  return detail.length > 160 || /\bE[A-Z]{3,}\b|grpc|Resolution note|\b\d+ [A-Z_]{4,}\b|\bat .+:\d+:\d+|errno|syscall/i.test(detail)
}

/** Everything known about a failure, for the protocol log. */
export function rawDetail(err: unknown): string {
  if (err instanceof ProtocolError) return `${err.code}: ${err.message}`
  if (err instanceof Error) return err.message
  return String(err)
}

const words = (s: string) => s.toLowerCase().replace(/'s\b/g, '').match(/[a-z]{3,}/g) ?? []

/** The node's message says nothing the sentence does not (it only adds the room's name, say). */
function restates(detail: string, base: string): boolean {
  const d = words(detail)
  const b = new Set(words(base))
  return d.length > 0 && d.filter((w) => b.has(w)).length / d.length >= 0.8
}

export function describeError(err: unknown): string {
  if (err instanceof ProtocolError) return errorText(err.code, err.message)
  if (err instanceof Error) return errorText('internal', err.message)
  return errorText('internal')
}
