/**
 * This project's fan-out server for bench/fanout.bench.ts: a
 * `WebSocketServer` on node:net (our request-head parser, as ours.ts) with
 * default options. `/sub`: the session subscribes to topic `t` (and sends
 * nothing). `/pub`: every message the session sends is published to `t` with
 * its type (`server.publish`, framed once for every subscriber); the
 * publisher is not a subscriber. Answers `alloc <ms>` (allocation-window.ts).
 */
import { createServer } from 'node:net';
import { WebSocketServer } from 'ktor-ws-ts';
import { AllocationWindow } from './allocation-window.ts';
import { serveBenchmark } from './control.ts';

const TOPIC = 't';
const window = new AllocationWindow();
const server = new WebSocketServer();
server.route('/sub', async (session) => {
  session.subscribe(TOPIC);
  for await (const message of session) void message; // subscribers send nothing; this waits for the close
});
server.route('/pub', async (session) => {
  for await (const message of session) {
    window.publishing(server.subscriberCount(TOPIC));
    void server.publish(TOPIC, message); // no broker: settled at once, never rejects
  }
});
serveBenchmark(
  createServer((socket) => void server.handleSocket(socket)),
  { alloc: window.command },
);
