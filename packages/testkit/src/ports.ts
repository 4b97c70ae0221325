import { createConnection, createServer } from 'node:net';

/** Asks the OS for a free TCP port on 127.0.0.1 and releases it at once. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = address && typeof address === 'object' ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/** Resolves once a TCP connection to 127.0.0.1:port succeeds; rejects at `deadline` (epoch ms). */
export async function waitForPort(port: number, deadline: number): Promise<void> {
  for (;;) {
    if (await canConnect(port)) return;
    if (Date.now() >= deadline) throw new Error(`nothing listened on 127.0.0.1:${port} in time`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.setTimeout(1_000);
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}
