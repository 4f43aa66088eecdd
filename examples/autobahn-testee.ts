/**
 * `npm run testee -- --port 9001`: the echo server conformance suites run
 * against. Every text or binary message goes back with the same type; limits
 * are raised to 64 MiB messages; any path is answered; permessage-deflate is
 * offered when the client asks for it.
 */
import { parseArgs } from 'node:util';
import { createWebSocketServer, permessageDeflate } from 'ktor-ws-ts';

const { values } = parseArgs({ options: { port: { type: 'string', default: '9001' }, host: { type: 'string', default: '127.0.0.1' } } });
const LIMIT = 64 * 1024 * 1024;

const server = createWebSocketServer(
  async (session) => {
    for await (const message of session) await session.send(message);
  },
  {
    session: { maxFrameSize: LIMIT, maxMessageSize: LIMIT },
    extensions: [permessageDeflate()],
    requestHead: { maxHeadSize: 64 * 1024 },
  },
);
server.listen(Number(values.port), values.host, () => {
  console.log(`testee listening on ws://${values.host}:${values.port}`);
});
