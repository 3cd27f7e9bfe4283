/**
 * Errors as named classes with a stable `code` (docs/architecture.md §2). The code is one of the
 * client protocol's error codes, so the gateway can put it in a reply unchanged, and the peer
 * protocol carries it across nodes in a `Failure`.
 */
import { ERROR_CODES, type ErrorCode } from '../../proto/client-protocol'

/**
 * An expected refusal (a room that is not there, a member that is not one, an administrator that
 * changed): what a client or a peer is told is its `code` and message, never a stack. So none is
 * captured: V8 walks the stack for every Error made, and these are made many times a second on the
 * hot paths of a loaded node (refused sends during a failover, requests to a peer without a link;
 * about 1.5 % of a simulated run, docs/simulation.md "Speed"). `stack` is the first line alone
 * ("ChatError: message"). Failures that are bugs are other classes, with their stacks.
 */
export class ChatError extends Error {
  override readonly name = 'ChatError'
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string) {
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    super(message)
    Error.stackTraceLimit = limit
    this.code = code
  }
}

export function isErrorCode(s: string): s is ErrorCode {
  return (ERROR_CODES as readonly string[]).includes(s)
}

/** Rebuild an error that came from a peer; an unknown code from a peer becomes `internal`. */
export function errorFromPeer(code: string, message: string): ChatError {
  return new ChatError(isErrorCode(code) ? code : 'internal', message || code)
}
