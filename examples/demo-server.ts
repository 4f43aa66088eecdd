/**
 * `npm start`: the demo server, built only on this library and node:http.
 * `/` serves a page with an echo box, a chat room shared by every open tab
 * and live counts; `/echo` and `/chat` are the WebSocket endpoints of a
 * `WebSocketServer` attached to the page's HTTP server. The chat room is the
 * topic `chat`: each message is published once to every member. With
 * REDIS_URL set, the room is shared through Redis by every demo (and
 * testee) on the same Redis. SIGINT or SIGTERM close every session with
 * 1001, then the process exits 0.
 * PORT (default 8080) and HOST (default 127.0.0.1) choose where it listens.
 *
 * TLS=1 (or TLS_CERT and TLS_KEY, see demo-tls.ts) serves HTTPS instead:
 * one node:http2 server with `allowHTTP1`, so a browser loads the page over
 * HTTP/2 and opens its WebSockets as streams of the same connection (RFC
 * 8441), while HTTP/1.1 clients upgrade as usual. The live counts say how
 * many connections arrived over HTTP/2.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createSecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { http2ServerOptions, permessageDeflate, WebSocketServer, type DefaultWebSocketSession } from 'ktor-ws-ts';
import { brokerFromEnv } from './broker-from-env.ts';
import { tlsFromEnv } from './demo-tls.ts';
import { onShutdownSignal } from './on-shutdown-signal.ts';

const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';
const page = readFileSync(new URL('./demo-page.html', import.meta.url));
const tls = tlsFromEnv();

/** The page at `/`, 404 elsewhere (node's compatibility API answers HTTP/2 requests the same way). */
function servePage(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void {
  const response = res as ServerResponse;
  if (req.url === '/' || req.url === '/index.html') {
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(page);
  } else {
    response.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
  }
}

const http = tls === undefined
  ? createServer(servePage)
  : createSecureServer({ key: tls.key, cert: tls.cert, allowHTTP1: true, ...http2ServerOptions() }, servePage);
const scaleOut = await brokerFromEnv();
const server = new WebSocketServer({
  session: { maxMessageSize: 1024 * 1024 },
  extensions: [permessageDeflate()],
  broker: scaleOut?.broker,
});
server.attach(http, { closeHttpServer: true });

/** This process's chat members: they get its live counts. */
const room = new Set<DefaultWebSocketSession>();
let messages = 0;

/** The counts of this process, to its chat members; a member that is leaving just misses it. */
function broadcastStats(): void {
  let http2 = 0;
  for (const session of server.sessions) if (session.request?.httpVersion === '2.0') http2++;
  const stats = JSON.stringify({ type: 'stats', connections: server.sessions.size, http2, messages });
  for (const member of room) void member.send(stats);
}

/** Counts the session in the live stats while `handler` runs. */
function counted(handler: (session: DefaultWebSocketSession) => Promise<void>) {
  return async (session: DefaultWebSocketSession): Promise<void> => {
    const running = handler(session); // a chat member joins the room before the count goes out
    broadcastStats();
    try {
      await running;
    } finally {
      // Still in `server.sessions` until the handler has returned.
      setImmediate(broadcastStats);
    }
  };
}

server.route(
  '/echo',
  counted(async (session) => {
    for await (const message of session) {
      messages++;
      await session.send(message);
    }
  }),
);

server.route(
  '/chat',
  counted(async (session) => {
    room.add(session);
    session.subscribe('chat');
    try {
      for await (const message of session) {
        messages++;
        const chat = JSON.stringify({ type: 'chat', text: String(message).slice(0, 1000) });
        // Every member here has it once this returns; the promise is about the other processes (Redis).
        server.publish('chat', chat).catch((error: unknown) => console.error(`chat message not shared: ${String(error)}`));
        broadcastStats();
      }
    } finally {
      room.delete(session);
    }
  }),
);

http.listen(port, host, () => {
  const origin = `${tls === undefined ? 'http' : 'https'}://${host}:${port}/`;
  const transport = tls === undefined ? '' : `; HTTP/2 and HTTP/1.1, ${tls.origin}`;
  console.log(`demo server on ${origin} (WebSocket endpoints /echo and /chat)${transport}${scaleOut ? '; chat shared through Redis' : ''}`);
});

onShutdownSignal(async () => {
  const { sessions, dropped } = await server.close(); // 1001 to every session, 10 s at most
  await scaleOut?.close();
  console.log(`demo server closed: ${sessions} session(s) closed with 1001, ${dropped} dropped`);
});
