/**
 * A chat room on the WebSocketServer object: `ws://HOST:PORT/chat?name=ann`
 * joins (a name is required), every message goes to everyone as JSON, joins
 * and leaves are announced, other paths get 404, and SIGINT or SIGTERM close
 * every client with 1001 before the process exits 0. The same server written
 * with `ws` is examples/chat-server-ws.ts.
 * `npm run build && node build/examples/chat-server.js` (PORT, default 8081;
 * HOST, default 127.0.0.1).
 */
import { WebSocketServer } from 'ktor-ws-ts';
import { onShutdownSignal } from './on-shutdown-signal.ts';

const server = new WebSocketServer<{ name: string }>({
  session: { maxMessageSize: 64 * 1024 },
  verify: (_request, { query }) => {
    const name = query.get('name') ?? '';
    if (!/^[\w-]{1,32}$/.test(name)) return { accept: false, status: 400, body: 'pick a name: /chat?name=ann\n' };
    return { accept: true, data: { name } };
  },
});

function broadcast(event: object): void {
  const text = JSON.stringify(event);
  for (const member of server.sessions) void member.send(text); // a member that is leaving just misses it
}

server.route('/chat', async (session) => {
  const { name } = session.data;
  broadcast({ type: 'join', name, count: server.sessions.size });
  try {
    for await (const message of session) broadcast({ type: 'message', name, text: String(message) });
  } finally {
    broadcast({ type: 'leave', name, count: server.sessions.size - 1 }); // still counted until it is gone
  }
});

const { port } = await server.listen(Number(process.env.PORT ?? 8081), process.env.HOST ?? '127.0.0.1');
console.log(`chat on ws://127.0.0.1:${port}/chat?name=you`);

onShutdownSignal(async () => {
  const { sessions, dropped } = await server.close(); // 1001 to everyone, 10 s at most
  console.log(`closed ${sessions} sessions, ${dropped} dropped`);
});
