/**
 * This project's echo server for the benchmarks: `createWebSocketServer`
 * (node:net and our request-head parser) with default options, echoing every
 * message with its type, as a user would write it.
 */
import { createWebSocketServer } from '../../src/index.ts';
import { serveBenchmark } from './control.ts';

const server = createWebSocketServer(async (session) => {
  for await (const message of session) await session.send(message);
});
serveBenchmark(server);
