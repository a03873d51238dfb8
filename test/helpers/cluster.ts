import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { WorkOS } from '@workos-inc/node';
import { freePort, TEST_API_KEY, TEST_CLIENT_ID } from './gatehouse.ts';

/**
 * Several Gatehouse processes behind a loopback load balancer, as a multi-node deployment runs them: each node is
 * `node src/main.ts` (the real server, its own process and memory) with the same environment; the balancer owns
 * the public URL and sends each request to the node the test chooses (`balancer.target`), so a test can make
 * every step of a sign-in land on another node.
 */

export interface Node {
  name: string;
  port: number;
  url: string;
  process: ChildProcess;
  /** Everything the node printed, for failure messages. */
  output(): string;
  /** Stops the node: SIGKILL (a crash) or SIGTERM (a graceful stop). */
  stop(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>;
}

/** Starts `node src/main.ts` and resolves once it listens. */
export async function startNode(name: string, env: Record<string, string>): Promise<Node> {
  const port = await freePort();
  const child = spawn(process.execPath, ['src/main.ts'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', GATEHOUSE_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start in 20 s:\n${output}`)), 20_000);
    const check = () => {
      if (output.includes('Gatehouse listening on')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before listening:\n${output}`));
    });
  });
  return {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    process: child,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** Starts the nodes at the same time; if one fails, stops the others (no process outlives the test) and throws. */
export async function startNodes(names: string[], env: Record<string, string>): Promise<Node[]> {
  const results = await Promise.allSettled(names.map((name) => startNode(name, env)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(results.map((r) => (r.status === 'fulfilled' ? r.value.stop('SIGKILL') : undefined)));
    throw failed.reason;
  }
  return results.map((r) => (r as PromiseFulfilledResult<Node>).value);
}

export interface Balancer {
  url: string;
  port: number;
  /** The node the next requests go to. */
  target: Node;
  /** Requests forwarded, per node name. */
  forwarded: Map<string, number>;
  close(): Promise<void>;
}

/** A loopback reverse proxy in front of the nodes; it adds `X-Forwarded-For` as a real balancer does. */
export async function startBalancer(port: number, first: Node): Promise<Balancer> {
  const balancer: Balancer = {
    url: `http://127.0.0.1:${port}`,
    port,
    target: first,
    forwarded: new Map(),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    const node = balancer.target;
    balancer.forwarded.set(node.name, (balancer.forwarded.get(node.name) ?? 0) + 1);
    const upstream = httpRequest(
      {
        host: '127.0.0.1',
        port: node.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, 'x-forwarded-for': req.socket.remoteAddress ?? '127.0.0.1' },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end('{"message":"bad gateway"}');
    });
    req.pipe(upstream);
  });
  server.keepAliveTimeout = 1;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return balancer;
}

// biome-ignore lint/suspicious/noExplicitAny: parsed JSON of many shapes; every use is checked by an assertion.
type Json = any;

/** The management API and the SDK through the balancer, shaped like TestGatehouse where fixtures need it. */
export function clusterClient(balancer: Balancer) {
  return {
    url: balancer.url,
    port: balancer.port,
    apiKey: TEST_API_KEY,
    clientId: TEST_CLIENT_ID,
    workos: new WorkOS(TEST_API_KEY, {
      apiHostname: '127.0.0.1',
      port: balancer.port,
      https: false,
      clientId: TEST_CLIENT_ID,
    }),
    async api(
      method: string,
      path: string,
      body?: unknown,
    ): Promise<{ status: number; body: Json; headers: Headers }> {
      const res = await fetch(`${balancer.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
    },
  };
}
