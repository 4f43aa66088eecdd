/**
 * `npm start`: the demo server, built only on this library and node:http.
 * `/` serves a page with an echo box, a chat room shared by every open tab
 * and live counts; `/echo` and `/chat` are the WebSocket endpoints.
 * PORT (default 8080) and HOST (default 127.0.0.1) choose where it listens.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { handleUpgrade, permessageDeflate, type DefaultWebSocketSession, type ServeOptions } from 'ktor-ws-ts';

const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';
const page = readFileSync(new URL('./demo-page.html', import.meta.url));

const room = new Set<DefaultWebSocketSession>();
let connections = 0;
let messages = 0;

/** Sends to every chat member; a member that cannot keep up is skipped, not waited for. */
function broadcast(text: string): void {
  for (const member of room) member.send(text).catch(() => room.delete(member));
}

function broadcastStats(): void {
  broadcast(JSON.stringify({ type: 'stats', connections, messages }));
}

async function echo(session: DefaultWebSocketSession): Promise<void> {
  for await (const message of session) {
    messages++;
    await session.send(message);
  }
}

async function chat(session: DefaultWebSocketSession): Promise<void> {
  room.add(session);
  broadcastStats();
  try {
    for await (const message of session) {
      messages++;
      broadcast(JSON.stringify({ type: 'chat', text: String(message).slice(0, 1000) }));
      broadcastStats();
    }
  } finally {
    room.delete(session);
  }
}

const routes = new Map([
  ['/echo', echo],
  ['/chat', chat],
]);
const options: ServeOptions = { session: { maxMessageSize: 1024 * 1024 }, extensions: [permessageDeflate()] };

const server = createServer((req, res) => {
  if (req.url === '/' || req.url === '/index.html') {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(page);
  } else {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
  }
});

server.on('upgrade', (req, socket, head) => {
  const route = routes.get(new URL(req.url ?? '/', 'http://localhost').pathname);
  if (route === undefined) {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  const job = handleUpgrade(req, socket, head, route, options);
  if (job === undefined) return;
  connections++;
  broadcastStats();
  job.invokeOnCompletion(() => {
    connections--;
    broadcastStats();
  });
});

server.listen(port, host, () => {
  console.log(`demo server on http://${host}:${port}/ (WebSocket endpoints /echo and /chat)`);
});
