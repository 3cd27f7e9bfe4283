// The standard gRPC health service (grpc.health.v1) on a real node process, as a lab tool such as
// grpc_health_probe would ask it: SERVING for the whole server and for the peer service, NOT_FOUND
// for a service the node does not have. Peer links are TLS (docs/security.md): the probe speaks TLS
// too, but needs no client certificate (grpc_health_probe -tls -tls-no-verify would do); it trusts
// the cluster CA here only because grpc-js cannot skip verifying the server.
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ClusterCredentials, newNodeKeyPem } from '../../main/cluster/cluster-credentials'
import { CLUSTER_KEY, ROOT, cleanup, startNode } from '../helpers/cluster'

afterAll(cleanup)

type Check = (req: { service: string }, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void) => void

describe('grpc.health.v1 on a node', () => {
  it('answers SERVING, and NOT_FOUND for an unknown service', async () => {
    const node = await startNode({ name: 'health' })
    const def = protoLoader.loadSync(join(ROOT, 'proto', 'grpc', 'health', 'v1', 'health.proto'), { enums: String })
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      grpc: { health: { v1: { Health: new (addr: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => grpc.Client & { Check: Check } } } }
    }
    const ca = new ClusterCredentials(CLUSTER_KEY, newNodeKeyPem()).tls.ca
    const tls = grpc.credentials.createSsl(ca, null, null, { checkServerIdentity: () => undefined })
    const client = new pkg.grpc.health.v1.Health(node.ready.grpc, tls, { 'grpc.ssl_target_name_override': 'probe' })
    const plain = new pkg.grpc.health.v1.Health(node.ready.grpc, grpc.credentials.createInsecure())
    const check = (service: string, c = client) =>
      new Promise<{ status?: string; code?: number }>((resolve) =>
        c.Check({ service }, (err, res) => resolve(err ? { code: err.code } : { status: res!.status })),
      )
    expect(await check('')).toEqual({ status: 'SERVING' })
    expect(await check('chat.peer.v1.PeerService')).toEqual({ status: 'SERVING' })
    expect(await check('no.such.Service')).toEqual({ code: grpc.status.NOT_FOUND })
    // Plain text is not spoken at all.
    expect(await check('', plain)).toEqual({ code: grpc.status.UNAVAILABLE })
    client.close()
    plain.close()
  })
})
