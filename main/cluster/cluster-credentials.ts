/**
 * The certificates of a closed cluster (docs/security.md, "Design").
 *
 * Every node holds two secrets: the cluster key (shared by the cluster) and its own Ed25519 key
 * pair (made on first start, never shared). From them it builds:
 * - the cluster CA: an Ed25519 key derived from the cluster key (HMAC-SHA256 of a fixed label), and
 *   a self-signed CA certificate made deterministically from it (fixed serial, validity and name;
 *   Ed25519 signatures are deterministic), so every key holder builds the byte-identical CA;
 * - its node certificate: its own public key, signed by the cluster CA.
 * Peer links are TLS with both certificates checked against the CA (mutual TLS): only a key holder
 * can make a certificate the other side accepts, the TLS handshake proves possession of the
 * certificate's private key and binds it to the session (a relay in the middle sees ciphertext and
 * cannot reuse anything), and a node's id is the hash of its public key, so even a key holder cannot
 * present another node's id: it would need that node's private key.
 *
 * X.509 is written by hand (a few DER structures): Node can parse and verify certificates
 * (crypto.X509Certificate) but not make them, and the subset needed here is small.
 */
import { createHash, createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, sign, X509Certificate, type KeyObject } from 'node:crypto'
import { ChatError } from '../core/errors'

// ---------------------------------------------------------------------------------------------
// DER, the subset X.509 needs

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n])
  const bytes: number[] = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff)
  return Buffer.from([0x80 | bytes.length, ...bytes])
}
function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content)
  return Buffer.concat([Buffer.from([tag]), len(body.length), body])
}
const seq = (...c: Buffer[]) => tlv(0x30, ...c)
const set = (...c: Buffer[]) => tlv(0x31, ...c)
const int = (n: number) => tlv(0x02, Buffer.from([n]))
const oid = (bytes: number[]) => tlv(0x06, Buffer.from(bytes))
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'))
const octets = (b: Buffer) => tlv(0x04, b)
const bits = (b: Buffer) => tlv(0x03, Buffer.from([0]), b)
const explicit = (n: number, c: Buffer) => tlv(0xa0 | n, c)

const ED25519 = seq(oid([0x2b, 0x65, 0x70])) // 1.3.101.112
const CN = [0x55, 0x04, 0x03] // 2.5.4.3
const BASIC_CONSTRAINTS = [0x55, 0x1d, 0x13] // 2.5.29.19
const KEY_USAGE = [0x55, 0x1d, 0x0f] // 2.5.29.15
// Fixed validity: certificates are rebuilt at every start and trust comes from the key, not dates.
const NOT_BEFORE = tlv(0x17, Buffer.from('200101000000Z')) // UTCTime 2020-01-01
const NOT_AFTER = tlv(0x18, Buffer.from('99991231235959Z')) // GeneralizedTime, "no expiry" (RFC 5280 4.1.2.5)

const nameOf = (cn: string) => seq(set(seq(oid(CN), utf8(cn))))

function certificate(o: { serial: number; issuer: string; subject: string; subjectKey: KeyObject; signer: KeyObject; ca: boolean }): Buffer {
  const spki = o.subjectKey.export({ type: 'spki', format: 'der' })
  const extensions = o.ca
    ? [
        seq(oid(BASIC_CONSTRAINTS), tlv(0x01, Buffer.from([0xff])), octets(seq(tlv(0x01, Buffer.from([0xff]))))),
        // keyCertSign (bit 5): one byte 0x04, its 2 low bits unused
        seq(oid(KEY_USAGE), tlv(0x01, Buffer.from([0xff])), octets(tlv(0x03, Buffer.from([0x02, 0x04])))),
      ]
    : [
        seq(oid(BASIC_CONSTRAINTS), tlv(0x01, Buffer.from([0xff])), octets(seq())),
        // digitalSignature (bit 0)
        seq(oid(KEY_USAGE), tlv(0x01, Buffer.from([0xff])), octets(tlv(0x03, Buffer.from([0x07, 0x80])))),
      ]
  const tbs = seq(
    explicit(0, int(2)),
    int(o.serial),
    ED25519,
    nameOf(o.issuer),
    seq(NOT_BEFORE, NOT_AFTER),
    nameOf(o.subject),
    spki,
    explicit(3, seq(...extensions)),
  )
  return seq(tbs, ED25519, bits(sign(null, tbs, o.signer)))
}

const pem = (der: Buffer) => Buffer.from(`-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`)

// ---------------------------------------------------------------------------------------------
// Keys and identities

/** An Ed25519 private key from a 32-byte seed (PKCS#8 wrapping, RFC 8410). */
function ed25519FromSeed(seed: Buffer): KeyObject {
  const prefix = Buffer.from('302e020100300506032b657004220420', 'hex')
  return createPrivateKey({ key: Buffer.concat([prefix, seed]), format: 'der', type: 'pkcs8' })
}

/** A node's id: the hash of its public key (32 hex digits), so the id cannot be claimed without the key. */
export function nodeIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 32)
}

/** A new node key pair, as PKCS#8 PEM (what the data dir keeps). */
export function newNodeKeyPem(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
}

/** A node key made from a label (the simulator's data dirs: the same run makes the same keys). */
export function nodeKeyPemFromLabel(label: string): string {
  return ed25519FromSeed(createHash('sha256').update(label).digest()).export({ type: 'pkcs8', format: 'pem' }).toString()
}

export interface TlsMaterial {
  /** The cluster CA certificate (PEM): the only root either side trusts. */
  ca: Buffer
  /** This node's certificate (PEM), signed by the cluster CA. */
  cert: Buffer
  /** This node's private key (PEM). */
  key: Buffer
}

/** What ClusterCredentials derives from a (cluster key, node key) pair, for the last few pairs. */
const DERIVED = new Map<string, { nodeId: string; tls: TlsMaterial; caCert: X509Certificate }>()
const DERIVED_KEPT = 16

export class ClusterCredentials {
  readonly nodeId: string
  readonly tls: TlsMaterial
  private readonly caCert: X509Certificate

  constructor(clusterKey: string, nodeKeyPem: string) {
    // The same keys give the same certificates: a node restarted in this process (the simulator
    // restarts nodes thousands of times, docs/simulation.md "Speed") does not derive them again.
    const cacheKey = `${clusterKey}\u0000${nodeKeyPem}`
    const known = DERIVED.get(cacheKey)
    if (known) {
      ;({ nodeId: this.nodeId, tls: this.tls, caCert: this.caCert } = known)
      return
    }
    const nodeKey = createPrivateKey(nodeKeyPem)
    if (nodeKey.asymmetricKeyType !== 'ed25519') throw new ChatError('internal', 'the node key is not an Ed25519 key')
    const nodePublic = createPublicKey(nodeKey)
    this.nodeId = nodeIdOf(nodePublic)
    const caKey = ed25519FromSeed(createHmac('sha256', clusterKey).update('ds-g1-sms cluster CA v1').digest())
    const caPublic = createPublicKey(caKey)
    // The CA's name carries a fingerprint of its key: two clusters' CAs never share a name, so a
    // wrong key shows up as "unknown issuer", not as a bad signature.
    const caName = `ds-g1-sms cluster ${nodeIdOf(caPublic).slice(0, 16)}`
    const caDer = certificate({ serial: 1, issuer: caName, subject: caName, subjectKey: caPublic, signer: caKey, ca: true })
    const certDer = certificate({ serial: 2, issuer: caName, subject: this.nodeId, subjectKey: nodePublic, signer: caKey, ca: false })
    this.caCert = new X509Certificate(caDer)
    this.tls = { ca: pem(caDer), cert: pem(certDer), key: Buffer.from(nodeKey.export({ type: 'pkcs8', format: 'pem' })) }
    DERIVED.set(cacheKey, { nodeId: this.nodeId, tls: this.tls, caCert: this.caCert })
    if (DERIVED.size > DERIVED_KEPT) DERIVED.delete(DERIVED.keys().next().value!)
  }

  /**
   * The node id a peer's certificate (DER, from the TLS session) proves, or undefined when it was not
   * issued by this cluster's CA. TLS itself has checked that the peer holds the certificate's key.
   */
  peerNodeId(raw: Buffer | undefined): string | undefined {
    if (!raw || raw.length === 0) return undefined
    try {
      const cert = new X509Certificate(raw)
      if (!cert.checkIssued(this.caCert) || !cert.verify(this.caCert.publicKey)) return undefined
      return nodeIdOf(cert.publicKey)
    } catch {
      return undefined
    }
  }
}
