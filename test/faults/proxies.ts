import {
  request as httpRequest,
  createServer as httpServer,
  type IncomingMessage,
  type Server,
} from 'node:http';
import { createServer as httpsServer } from 'node:https';
import { createConnection, type Socket, createServer as tcpServer } from 'node:net';
import { generateSpKeyPair } from '../../src/connectors/saml/keys.ts';

/**
 * Loopback proxies that inject faults between Gatehouse and a real peer (oidc-provider, PostgreSQL).
 *
 * - `startHttpFaultProxy`: an HTTP proxy that owns the IdP's public port and forwards to the IdP's real port,
 *   unless the fault chosen for the request's path says otherwise: reset the connection, delay, answer with a
 *   status or a body of its own, cut the body short, relabel the content type, or rewrite the JSON. `down()`
 *   closes the listener (connection refused) until `up()`.
 * - `startTcpProxy`: a TCP proxy (PostgreSQL) whose `cut()` destroys every open connection, as a server restart
 *   does, and whose `refusing` flag closes new ones at once.
 * - `startTlsListener`: an https server with a fresh self-signed certificate (a TLS failure for a client that
 *   checks certificates).
 */

export type Fault =
  | { kind: 'reset' }
  | { kind: 'delay'; ms: number }
  | { kind: 'respond'; status: number; contentType: string; body: string | Buffer }
  | { kind: 'truncate' }
  | { kind: 'content-type'; value: string }
  | {
      kind: 'rewrite-json';
      rewrite: (json: Record<string, unknown>) => Record<string, unknown> | Promise<Record<string, unknown>>;
    };

export interface HttpFaultProxy {
  port: number;
  /** The fault for a path (e.g. '/token'), or none: forwarded as is. */
  faults: Map<string, Fault>;
  /** Paths requested through the proxy, in order. */
  seen: string[];
  /** Closes the listener and every open connection: new connections are refused until `up()`. */
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startHttpFaultProxy(port: number, targetPort: number): Promise<HttpFaultProxy> {
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  const server: Server = httpServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    proxy.seen.push(path);
    const fault = proxy.faults.get(path);
    if (fault?.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'respond') {
      res.writeHead(fault.status, { 'content-type': fault.contentType, 'content-length': fault.body.length });
      res.end(fault.body);
      return;
    }
    const forward = () => {
      const upstream = httpRequest(
        { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers },
        (answer) => relay(answer),
      );
      upstream.on('error', () => req.socket.destroy());
      req.pipe(upstream);
    };
    const relay = (answer: IncomingMessage) => {
      if (!fault || fault.kind === 'delay') {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      answer.on('data', (c: Buffer) => chunks.push(c));
      answer.on('end', async () => {
        const body = Buffer.concat(chunks);
        const headers = { ...answer.headers };
        delete headers['content-length'];
        delete headers['transfer-encoding'];
        if (fault.kind === 'truncate') {
          // The full length declared, half the body sent, then the connection closed.
          res.writeHead(answer.statusCode ?? 200, { ...headers, 'content-length': body.length });
          res.write(body.subarray(0, Math.floor(body.length / 2)));
          setImmediate(() => req.socket.destroy());
          return;
        }
        let out = body;
        if (fault.kind === 'content-type') headers['content-type'] = fault.value;
        if (fault.kind === 'rewrite-json') {
          out = Buffer.from(JSON.stringify(await fault.rewrite(JSON.parse(body.toString('utf8')))));
        }
        res.writeHead(answer.statusCode ?? 200, { ...headers, 'content-length': out.length });
        res.end(out);
      });
    };
    if (fault?.kind === 'delay') {
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!req.socket.destroyed) forward();
      }, fault.ms);
      timers.add(timer);
    } else forward();
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.keepAliveTimeout = 500;
  const listen = () => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const socket of sockets) socket.destroy();
      if (!server.listening) resolve();
      else server.close(() => resolve());
    });
  const proxy: HttpFaultProxy = {
    port,
    faults: new Map(),
    seen: [],
    down: stop,
    up: listen,
    close: stop,
  };
  await listen();
  return proxy;
}

export interface TcpProxy {
  port: number;
  /** While true, new connections are closed as soon as they open. */
  refusing: boolean;
  /** Connections accepted so far. */
  accepted: number;
  /** Destroys every open connection (both sides), as a database restart does. */
  cut(): number;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  const server = tcpServer((client) => {
    proxy.accepted++;
    if (proxy.refusing) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: targetHost, port: targetPort });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  const proxy: TcpProxy = {
    port: typeof address === 'object' && address ? address.port : 0,
    refusing: false,
    accepted: 0,
    cut() {
      const n = pairs.size;
      for (const [a, b] of [...pairs]) {
        a.destroy();
        b.destroy();
      }
      pairs.clear();
      return n;
    },
    close() {
      proxy.cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}

/** An https listener with a self-signed certificate that answers every request with `{}`. */
export async function startTlsListener(): Promise<{ port: number; close(): Promise<void> }> {
  const { privateKey, certificate } = await generateSpKeyPair('127.0.0.1');
  const server = httpsServer({ key: privateKey, cert: certificate }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
