/**
 * The chat room of examples/chat-server.ts written with the `ws` package
 * (a dev dependency), for comparison: same endpoint, name check, JSON events,
 * message limit and shutdown (1001 to every client, then exit 0). Unlike the
 * other, ws answers 400 rather than 404 for other paths.
 * `npm run build && node build/examples/chat-server-ws.js` (PORT, default 8082; HOST, default 127.0.0.1).
 */
import type { IncomingMessage } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { onShutdownSignal } from './on-shutdown-signal.ts';

function nameOf(request: IncomingMessage): string {
  return new URL(request.url ?? '/', 'http://localhost').searchParams.get('name') ?? '';
}

const wss = new WebSocketServer({
  port: Number(process.env.PORT ?? 8082),
  host: process.env.HOST ?? '127.0.0.1',
  path: '/chat',
  maxPayload: 64 * 1024,
  verifyClient: ({ req }, done) => {
    if (/^[\w-]{1,32}$/.test(nameOf(req))) done(true);
    else done(false, 400, 'pick a name: /chat?name=ann');
  },
});

function broadcast(event: object): void {
  const text = JSON.stringify(event);
  for (const client of wss.clients) if (client.readyState === WebSocket.OPEN) client.send(text);
}

wss.on('connection', (ws, request) => {
  const name = nameOf(request);
  broadcast({ type: 'join', name, count: wss.clients.size });
  ws.on('message', (data) => broadcast({ type: 'message', name, text: data.toString() }));
  ws.on('close', () => broadcast({ type: 'leave', name, count: wss.clients.size }));
  ws.on('error', (error) => console.error(`${name}:`, error)); // without a listener, a bad frame crashes the process
});

wss.on('listening', () => {
  const { port } = wss.address() as { port: number };
  console.log(`chat on ws://127.0.0.1:${port}/chat?name=you`);
});

onShutdownSignal(() => {
  const sessions = wss.clients.size;
  let dropped = 0;
  for (const client of wss.clients) client.close(1001);
  const deadline = setTimeout(() => {
    for (const client of wss.clients) {
      dropped++;
      client.terminate();
    }
  }, 10_000);
  wss.close(() => {
    clearTimeout(deadline);
    console.log(`closed ${sessions} sessions, ${dropped} dropped`);
  });
});
