/**
 * Errors as named classes with a stable `code` (docs/architecture.md §2). The code is one of the
 * client protocol's error codes, so the gateway can put it in a reply unchanged, and the peer
 * protocol carries it across nodes in a `Failure`.
 */
import { ERROR_CODES, type ErrorCode } from '../../proto/client-protocol'

export class ChatError extends Error {
  override readonly name = 'ChatError'
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message)
  }
}

export function isErrorCode(s: string): s is ErrorCode {
  return (ERROR_CODES as readonly string[]).includes(s)
}

/** Rebuild an error that came from a peer; an unknown code from a peer becomes `internal`. */
export function errorFromPeer(code: string, message: string): ChatError {
  return new ChatError(isErrorCode(code) ? code : 'internal', message || code)
}
