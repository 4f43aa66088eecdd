/**
 * An echo server on a bare node:net server: the request head is read from
 * the socket by this library's bounded parser, then the session runs over
 * the same byte channels. `npx tsx examples/net-server.ts` (PORT, default 8081).
 */
import { createWebSocketServer } from 'ktor-ws-ts';

const port = Number(process.env.PORT ?? 8081);
const server = createWebSocketServer(async (session) => {
  for await (const message of session) await session.send(message);
});
server.listen(port, '127.0.0.1', () => console.log(`echo on ws://127.0.0.1:${port}/`));
