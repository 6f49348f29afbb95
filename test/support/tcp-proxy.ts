import { KubeConfig } from '@kubernetes/client-node';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 in front of a server (the test API server), forwarding bytes untouched so TLS goes end to
 * end and the client still verifies the real certificate (which names 127.0.0.1). It counts what the server sends,
 * and can go silent, reset its connections or forward again: the network faults the tests need, without mocks.
 */
export interface TcpProxy {
  /** 127.0.0.1:PORT, for a server URL: `https://${proxy.address}`. */
  readonly address: string;
  /** Bytes the server has sent through the proxy (TLS records and all); tests may reset it to 0. */
  received: number;
  /**
   * From now on nothing passes, either way, on new or open connections, and nothing is closed: the client sees a
   * server that accepted its connection and went silent (a partitioned network, a wedged node), not one that
   * refuses or resets, which it would notice at once.
   */
  blackHole(): void;
  /**
   * Forwards new connections again. Every connection open now lived through the silence and lost bytes on the way
   * (a TLS stream cannot resume), so each is destroyed and the client sees a reset it can recover from.
   */
  forward(): void;
  /** Resets every open connection, as a network failure would. */
  cut(): void;
  /**
   * Holds everything the server sends for `ms` before passing it on (0: at once again): a slow, distant or
   * overloaded API server. Chunks keep their order.
   */
  slow(ms: number): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let silent = false;
  let delayMs = 0;
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // A reset from either side is expected (that side is destroyed below); it must not crash the test process.
    socket.on('error', () => undefined);
  };
  const proxy: TcpProxy = {
    address: '',
    received: 0,
    blackHole: () => {
      silent = true;
    },
    forward: () => {
      silent = false;
      for (const socket of sockets) socket.destroy();
    },
    cut: () => {
      for (const socket of sockets) socket.resetAndDestroy();
    },
    slow: (ms) => {
      delayMs = ms;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
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
    upstream.on('data', (chunk: Buffer) => {
      if (silent) return;
      proxy.received += chunk.length;
      // Timers of one duration fire in the order they were set, so delayed chunks stay in order.
      if (delayMs === 0) client.write(chunk);
      else setTimeout(() => client.destroyed || client.write(chunk), delayMs);
    });
    client.on('close', () => silent || upstream.destroy());
    upstream.on('close', () => silent || client.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  Object.assign(proxy, { address: `127.0.0.1:${(server.address() as AddressInfo).port}` });
  return proxy;
}

/** The proxy in front of the server a kubeconfig names, and that kubeconfig pointed at the proxy. */
export async function proxiedKubeConfig(kubeconfigPath: string): Promise<{ proxy: TcpProxy; config: KubeConfig }> {
  const config = new KubeConfig();
  config.loadFromFile(kubeconfigPath);
  const cluster = config.getCurrentCluster();
  if (cluster === null) throw new Error(`${kubeconfigPath} names no current cluster`);
  const { hostname, port } = new URL(cluster.server);
  const proxy = await startTcpProxy({ host: hostname, port: Number(port) });
  config.clusters = config.clusters.map((c) => (c.name === cluster.name ? { ...c, server: `https://${proxy.address}` } : c));
  return { proxy, config };
}
