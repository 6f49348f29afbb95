import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface BlackHoleProxy {
  /** 127.0.0.1:PORT, for a server URL: `https://${proxy.address}`. */
  readonly address: string;
  /**
   * From now on nothing passes, either way, on new or open connections, and nothing is closed: the client sees an
   * API server that accepted its connection and went silent (a partitioned network, a wedged node), not one that
   * refuses or resets, which it would notice at once.
   */
  blackHole(): void;
  /**
   * Forwards new connections again. Every connection open now lived through the silence and lost bytes on the way
   * (a TLS stream cannot resume), so each is destroyed and the client sees a reset it can recover from.
   */
  forward(): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1 in front of `target` (host:port) that forwards bytes untouched, so TLS goes end to end
 * and the client still verifies the real server's certificate, until it is told to black-hole.
 */
export async function startBlackHoleProxy(target: { host: string; port: number }): Promise<BlackHoleProxy> {
  let silent = false;
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // A reset from either side is expected (that side is destroyed below); it must not crash the test process.
    socket.on('error', () => undefined);
  };
  const server = createServer((client) => {
    track(client);
    if (silent) {
      // Read and dropped, so the client's writes never back up and tell it anything.
      client.on('data', () => undefined);
      return;
    }
    const upstream = connect(target.port, target.host);
    track(upstream);
    // Written by hand rather than piped so that a switch to silence drops what arrives on an open connection.
    client.on('data', (chunk: Buffer) => silent || upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => silent || client.write(chunk));
    client.on('close', () => silent || upstream.destroy());
    upstream.on('close', () => silent || client.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    blackHole: () => {
      silent = true;
    },
    forward: () => {
      silent = false;
      for (const socket of sockets) socket.destroy();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
