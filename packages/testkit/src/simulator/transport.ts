import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  createServer as createHttp2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
} from 'node:http2';
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';

/** A request with its whole body, from either protocol. */
export interface TransportRequest {
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
  /** True over HTTP/2 (then `http2` is the response's stream, for event streams). */
  readonly http2: boolean;
}

export type Response = ServerResponse | Http2ServerResponse;
export type RequestHandler = (request: TransportRequest, response: Response) => void;

export interface Transport {
  readonly port: number;
  /** HTTP/2 sessions currently open (fault injection reaches them through their streams). */
  readonly sessions: ReadonlySet<Http2Session>;
  close(): Promise<void>;
}

/** The 24 bytes every HTTP/2 connection with prior knowledge starts with (RFC 9113, 3.4). */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * Listens on one loopback port for both HTTP/1.1 (the testkit's `NodeHttpHandler` clients) and HTTP/2
 * cleartext with prior knowledge (the SDK's default `NodeHttp2Handler` on an `http://` endpoint): each new
 * connection's first bytes are compared with the HTTP/2 preface, put back, and the socket handed to the
 * matching server. No TLS, so no ALPN.
 */
export async function listenBoth(handler: RequestHandler, maxBodyBytes: number): Promise<Transport> {
  const receive = (req: IncomingMessage | Http2ServerRequest, res: Response, http2: boolean): void => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        if (http2) res.writeHead(413).end();
        else (res as ServerResponse).writeHead(413, { connection: 'close' }).end();
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > maxBodyBytes) return;
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      handler({ headers: req.headers, body, http2 }, res);
    });
  };
  const http1 = createHttpServer((req, res) => receive(req, res, false));
  // Longer than the SDK agent's idle sockets live, so the server never closes one the client is about to reuse.
  http1.keepAliveTimeout = 120_000;
  const http2 = createHttp2Server({}, (req, res) => receive(req, res, true));
  const sessions = new Set<Http2Session>();
  http2.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    // A session error (a client that went away) must not become an uncaught exception.
    session.on('error', () => {});
  });
  const sockets = new Set<Socket>();
  const sniff = (socket: Socket): void => {
    const chunk = socket.read() as Buffer | null;
    if (chunk === null) {
      socket.once('readable', () => sniff(socket));
      return;
    }
    const seen = Math.min(chunk.length, PREFACE.length);
    const isHttp2 = chunk.subarray(0, seen).equals(PREFACE.subarray(0, seen));
    if (isHttp2 && chunk.length < PREFACE.length) {
      // Too few bytes to tell yet (at most 23 are held back): wait for the rest of the preface.
      socket.unshift(chunk);
      socket.once('readable', () => sniff(socket));
      return;
    }
    socket.unshift(chunk);
    (isHttp2 ? http2 : http1).emit('connection', socket);
  };
  const net = createNetServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    sniff(socket);
  });
  await new Promise<void>((resolve, reject) => {
    net.once('error', reject);
    net.listen(0, '127.0.0.1', () => resolve());
  });
  let closing: Promise<void> | undefined;
  return {
    port: (net.address() as AddressInfo).port,
    sessions,
    close() {
      closing ??= new Promise<void>((resolve) => {
        net.close(() => resolve());
        for (const session of sessions) session.destroy();
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}
