/**
 * Starts this project's server on 127.0.0.1 (an ephemeral port) for a test,
 * recording every session job so the test can assert how it ended.
 */
import type { AddressInfo, Server } from 'node:net';
import { once } from 'node:events';
import type { Job } from '../../src/channels/job.ts';
import { serveSocket, type ServeOptions, type WebSocketHandler } from '../../src/upgrade/serve.ts';
import { createServer } from 'node:net';
import { connect, type ConnectOptions } from '../../src/upgrade/connect.ts';
import * as assert from 'uvu/assert';
import type { RawClient } from './raw-client.ts';

export interface TestServer {
  readonly port: number;
  readonly server: Server;
  /** Session jobs in connection order. */
  readonly jobs: Job[];
  /** Resolves with the n-th session job (0-based) once it exists. */
  job(n?: number): Promise<Job>;
  close(): Promise<void>;
}

export async function startServer(handler: WebSocketHandler, options: ServeOptions = {}): Promise<TestServer> {
  const jobs: Job[] = [];
  const waiters: (() => void)[] = [];
  const server = createServer((socket) => {
    void serveSocket(socket, handler, options).then((job) => {
      if (job) jobs.push(job);
      for (const w of waiters.splice(0)) w();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    server,
    jobs,
    async job(n = 0) {
      while (jobs.length <= n) await new Promise<void>((r) => waiters.push(r));
      return jobs[n]!;
    },
    async close() {
      server.close();
      for (const job of jobs) job.cancel();
      await Promise.all(jobs.map((j) => j.join()));
    },
  };
}

/** One round trip over a fresh client connection: sends `text`, returns the reply as a string, closes. */
export async function roundTrip(url: string, text: string, options: ConnectOptions = {}): Promise<string> {
  const session = await connect(url, options);
  await session.send(text);
  const reply = await session.receive();
  await session.close();
  return String(reply);
}

/** The handler failed with `cause`: `client` got close 1011 and the session's job failed with it; then both ends are closed. */
export async function assertHandlerFailed(server: TestServer, client: RawClient, cause: Error): Promise<void> {
  assert.is((await client.closeFrame()).code, 1011);
  const job = await server.job();
  await job.join();
  assert.is(job.state, 'failed');
  assert.is(job.cause, cause);
  client.destroy();
  await server.close();
}
