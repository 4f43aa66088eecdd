/**
 * `npm run testee -- --port 9001`: the echo server conformance suites run
 * against, on the `WebSocketServer` object. Every text or binary message
 * goes back with the same type; limits are raised to 64 MiB messages; any
 * path is answered; permessage-deflate is offered when the client asks for
 * it. Connections come through `handleSocket` on a node:net server: an
 * HTTP/1.1 one is read by this library's own request-head parser, and one
 * that opens with the HTTP/2 preface (cleartext HTTP/2 with prior
 * knowledge, e.g. `connect('ws://...', { http2: true })`) carries its
 * WebSockets as extended CONNECT streams (RFC 8441), on the same port.
 *
 * Messages are read with `consumeEach`, the callback form (a handler that
 * keeps no message once it is sent).
 *
 * `/pubsub/<topic>`: the connection subscribes to <topic>, and every message
 * it sends is published to <topic> with its type, the sender included. With
 * REDIS_URL set, topics are shared through Redis with every other testee (or
 * demo) on the same Redis; a message Redis could not take (Redis down) still
 * reaches this node's subscribers, and the failure is printed to stderr.
 */
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { permessageDeflate, WebSocketServer } from 'ktor-ws-ts';
import { brokerFromEnv } from './broker-from-env.ts';
import { onShutdownSignal } from './on-shutdown-signal.ts';

const { values } = parseArgs({ options: { port: { type: 'string', default: '9001' }, host: { type: 'string', default: '127.0.0.1' } } });
const LIMIT = 64 * 1024 * 1024;
const PUBSUB = '/pubsub/';

const scaleOut = await brokerFromEnv();
const server = new WebSocketServer({
  session: { maxFrameSize: LIMIT, maxMessageSize: LIMIT },
  extensions: [permessageDeflate()],
  requestHead: { maxHeadSize: 64 * 1024 },
  broker: scaleOut?.broker,
});

server.route('*', (session) => {
  const path = new URL(session.request?.url ?? '/', 'http://testee').pathname;
  if (!path.startsWith(PUBSUB)) return session.consumeEach((message) => session.send(message));
  const topic = decodeURIComponent(path.slice(PUBSUB.length));
  session.subscribe(topic);
  return session.consumeEach((message) =>
    // This node's subscribers have it once publish returns; a failure is about the other nodes (Redis down).
    server.publish(topic, message).catch((error: unknown) => console.error(`not shared with other nodes: ${String(error)}`)),
  );
});

const listener = createServer((socket) => void server.handleSocket(socket));
listener.listen(Number(values.port), values.host, () => {
  console.log(
    `testee listening on ws://${values.host}:${values.port} (HTTP/1.1 and cleartext HTTP/2)${scaleOut ? ' (topics shared through Redis)' : ''}`,
  );
});

onShutdownSignal(async () => {
  listener.close();
  await server.close();
  await scaleOut?.close();
});
