/**
 * One well-formed example of each peer message kind the hot paths handle (peer-schema.ts's check,
 * frame-encoding.ts, frame-decoding.ts): the tests of those paths compare them with the schemas and
 * proto-loader on the same samples.
 */
export const message = { roomId: 'r-1', seq: 3, user: 'alice', nodeId: 'n-1', text: 'hello', sentAt: 1_700_000_000_000, clientMsgId: 'c1' }

export const good: Record<string, Record<string, unknown>> = {
  heartbeat: { sentAt: 5 },
  forwardSend: { reqId: 4, roomId: 'r-1', user: 'alice', text: 'hi', clientMsgId: 'c9' },
  sendAck: { reqId: 4, error: null, seq: 12 },
  deliver: { roomId: 'r-1', messages: [message, { ...message, seq: 4 }] },
  roomAppend: { roomId: 'r-1', term: 2, leader: 'n-1', prevSeq: 2, prevTerm: 2, entries: [{ term: 2, message }], commitSeq: 2, meta: null, noReply: false },
  roomAppendReply: { roomId: 'r-1', term: 2, ok: true, matchSeq: 3, leader: '', metaTerm: 1, metaVersion: 0 },
}
