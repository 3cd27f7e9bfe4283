/**
 * The gRPC port of a desktop instance. Instance N listens on 50051 + (N - 1) by default, so lab
 * mates can guess each other's address and a firewall rule can name a small range; when that port
 * is taken (another program, or an instance started with a different N) we fall back to a free one
 * instead of refusing to start. Plain Node, tested under vitest.
 */
import { createServer } from 'node:net'

export const BASE_GRPC_PORT = 50051

export function defaultGrpcPort(instance: number): number {
  return BASE_GRPC_PORT + (instance - 1)
}

/** Binds and immediately releases host:port; port 0 asks the OS for any free port. */
function probe(host: string, port: number): Promise<number | null> {
  return new Promise((resolveProbe, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolveProbe(null)
      else reject(err)
    })
    // exclusive: do not share a handle with cluster workers, we want the plain bind result.
    server.listen({ host, port, exclusive: true }, () => {
      const address = server.address()
      const bound = typeof address === 'object' && address ? address.port : port
      server.close(() => resolveProbe(bound))
    })
  })
}

export async function isPortFree(host: string, port: number): Promise<boolean> {
  return (await probe(host, port)) !== null
}

/** Not even the OS could name a free port (port 0) on that host: the app cannot start its node. */
export class NoFreePortError extends Error {
  override readonly name = 'NoFreePortError'
  readonly code = 'no_free_port'
}

/**
 * `preferred` if it can be bound on `host`, otherwise a port the OS reports free. There is a short
 * window between this probe and the node's own bind; the caller retries with port 0 if the node
 * still finds the port taken (see desktop-node.ts).
 */
export async function chooseGrpcPort(host: string, preferred: number): Promise<number> {
  if (await isPortFree(host, preferred)) return preferred
  const any = await probe(host, 0)
  if (any === null) throw new NoFreePortError(`no free TCP port on ${host}`)
  return any
}

/** Whether a node start failed because its listen address was taken (grpc-js or net wording). */
export function isAddressInUse(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | undefined
  if (e?.code === 'EADDRINUSE') return true
  const message = typeof e?.message === 'string' ? e.message : String(err)
  return /EADDRINUSE|address already in use|No address added out of total/i.test(message)
}
