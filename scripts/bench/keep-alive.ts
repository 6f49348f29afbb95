// One HTTPS keep-alive connection speaking just enough HTTP/1.1 for the load: a request is a prepared buffer
// (headers and body), an answer is its status and, when asked for, its body. Node's https client would do, but
// it costs several times more CPU per request, and on a 2-core machine the load generator's CPU is taken from the
// server under test: the less the client spends, the more the figures say about the server.
import { connect, type TLSSocket } from 'node:tls';

export interface Answer {
  readonly status: number;
  /** Only when the request asked for it (checking answers); otherwise the bytes are counted and dropped. */
  readonly body: string | undefined;
}

const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:\s*(\d+)/i;

/** An HTTP/1.1 POST as kube-apiserver sends an AdmissionReview (it adds ?timeout= to the webhook's URL). */
export function postRequest(port: number, path: string, body: string): Buffer {
  const payload = Buffer.from(body);
  const head =
    `POST ${path}?timeout=5s HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: application/json, */*\r\n` +
    `Content-Type: application/json\r\nUser-Agent: kube-apiserver-admission\r\nContent-Length: ${payload.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head), payload]);
}

interface Waiting {
  readonly keepBody: boolean;
  readonly resolve: (answer: Answer) => void;
  readonly reject: (error: Error) => void;
}

export class KeepAliveConnection {
  readonly #socket: TLSSocket;
  #buffered: Buffer = Buffer.alloc(0);
  #waiting: Waiting | undefined;
  #closed: Error | undefined;

  private constructor(socket: TLSSocket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('error', (error) => this.#fail(error));
    socket.on('close', () => this.#fail(new Error('connection closed by the server')));
  }

  /** Connects and completes the TLS handshake, verifying the server's certificate against `ca`. */
  static open(port: number, ca: string): Promise<KeepAliveConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, ca }, () => resolve(new KeepAliveConnection(socket)));
      socket.once('error', reject);
    });
  }

  get busy(): boolean {
    return this.#waiting !== undefined;
  }

  /** Sends one request; one at a time per connection, as HTTP/1.1 without pipelining. */
  send(request: Buffer, keepBody = false): Promise<Answer> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    if (this.#waiting !== undefined) return Promise.reject(new Error('a request is already in flight on this connection'));
    return new Promise((resolve, reject) => {
      this.#waiting = { keepBody, resolve, reject };
      this.#socket.write(request);
    });
  }

  close(): void {
    this.#closed ??= new Error('connection closed');
    this.#socket.destroy();
  }

  #receive(chunk: Buffer): void {
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    const headerEnd = this.#buffered.indexOf(HEADER_END);
    if (headerEnd < 0) return;
    const head = this.#buffered.toString('latin1', 0, headerEnd);
    const length = CONTENT_LENGTH.exec(head)?.[1];
    if (length === undefined) return this.#fail(new Error(`answer without content-length: ${head.slice(0, 200)}`));
    const end = headerEnd + HEADER_END.length + Number(length);
    if (this.#buffered.length < end) return;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    const body = waiting?.keepBody === true ? this.#buffered.toString('utf8', headerEnd + HEADER_END.length, end) : undefined;
    this.#buffered = this.#buffered.subarray(end);
    waiting?.resolve({ status: Number(head.slice(9, 12)), body });
  }

  #fail(error: Error): void {
    this.#closed ??= error;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.reject(error);
  }
}

/** Opens `count` connections, `parallel` handshakes at a time (a thousand at once would only queue in the server). */
export async function openConnections(port: number, ca: string, count: number, parallel = 50): Promise<KeepAliveConnection[]> {
  const connections: KeepAliveConnection[] = [];
  for (let opened = 0; opened < count; opened += parallel) {
    const batch = Math.min(parallel, count - opened);
    connections.push(...(await Promise.all(Array.from({ length: batch }, () => KeepAliveConnection.open(port, ca)))));
  }
  return connections;
}
