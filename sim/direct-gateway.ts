/**
 * The simulator's client gateway (docs/simulation.md): clients in the same process call the node's
 * client ops (main/node/client-ops.ts, what the WebSocket gateway calls) directly. Frames cross as
 * what JSON text would carry, as over the WebSocket, shared and frozen rather than copied (sealAsJson,
 * main/cluster/memory-transport.ts): no client can change what the node sent, nor the node after.
 */
import type { ErrorBody, Request, ServerFrame } from '../proto/client-protocol'
import { ChatError } from '../main/core/errors'
import { sealAsJson } from '../main/cluster/memory-transport'
import { encodeFrame, type ClientApi, type ClientGateway, type ClientSession, type EncodedFrame } from '../main/gateway/ws-gateway'

/**
 * A frame encoded once for many sessions is decoded once too (docs/simulation.md, "Speed"): the
 * sessions get the same decoded object, which shares nothing with the node, and the simulated
 * clients only read what they are sent.
 */
const decodedFrames = new WeakMap<EncodedFrame, ServerFrame>()

function decoded(frame: EncodedFrame): ServerFrame {
  if (frame instanceof CopiedFrame) return frame.copy
  let f = decodedFrames.get(frame)
  if (!f) decodedFrames.set(frame, (f = JSON.parse(frame.text) as ServerFrame))
  return f
}

/**
 * What the node encodes for many sessions (DirectGateway.encode): the copy its clients get, made
 * when it is encoded, as the JSON text would fix it then; the bytes only if something reads them.
 */
class CopiedFrame implements EncodedFrame {
  private encoded: EncodedFrame | undefined

  constructor(readonly copy: ServerFrame) {}

  private bytes(): EncodedFrame {
    return (this.encoded ??= encodeFrame(this.copy))
  }

  get wire(): Buffer {
    return this.bytes().wire
  }

  get json(): Buffer {
    return this.bytes().json
  }

  get text(): string {
    return this.bytes().text
  }
}

/** The in-process gateway: clients call the node's client ops directly, frames come back decoded. */
export class DirectGateway implements ClientGateway {
  private readonly sessions = new Set<ClientSession>()
  private nextId = 1

  constructor(readonly api: ClientApi) {}

  async listen(): Promise<number> {
    return 0
  }

  /**
   * What a JSON round trip would give (sealAsJson), not JSON text its clients would parse again: a
   * stringify and a parse per delivery were 4 % of a run (docs/simulation.md, "Speed").
   */
  encode(frame: ServerFrame): EncodedFrame {
    return new CopiedFrame(sealAsJson(frame))
  }

  broadcast(frame: ServerFrame, filter: (s: ClientSession) => boolean = (s) => s.user !== undefined): void {
    for (const s of this.sessions) if (filter(s)) s.send(frame)
  }

  async close(): Promise<void> {
    for (const s of [...this.sessions]) this.disconnect(s)
  }

  connect(onFrame: (f: ServerFrame) => void): ClientSession {
    const s: ClientSession = {
      id: this.nextId++,
      user: undefined,
      trace: false,
      batch: false,
      largeRooms: false,
      // Frames cross as what JSON would carry, sealed: the client changes none of the node's objects.
      send: (frame) => onFrame(sealAsJson(frame)),
      sendEncoded: (frame: EncodedFrame) => onFrame(decoded(frame)),
    }
    this.sessions.add(s)
    return s
  }

  disconnect(s: ClientSession): void {
    if (!this.sessions.delete(s)) return
    this.api.closed(s)
  }

  /** One request as the WebSocket gateway carries it out: the reply, or the contract's error. */
  async request(s: ClientSession, req: Request): Promise<{ ok: true; result: unknown } | { ok: false; error: ErrorBody }> {
    try {
      const result = await this.api.handle(s, req)
      return { ok: true, result: sealAsJson(result ?? {}) }
    } catch (e) {
      if (e instanceof ChatError) return { ok: false, error: { code: e.code, message: e.message } }
      throw e
    }
  }
}
