/**
 * A WebSocket client in a process of its own (`node --import tsx
 * counting-client.ts URL HTTP2`), reading as fast as a real peer would: it
 * runs the built package (dist/, which `npm test` builds first), as users
 * do, and competes with no test code for its event loop. Connects to URL
 * (over HTTP/2 when HTTP2 is `1`), prints `open`, counts the messages it
 * receives, and prints `{"received": N, "code": C}` once the session has
 * closed.
 */
import { connect } from '../../dist/index.js';

const [url = '', http2 = '0'] = process.argv.slice(2);
const session = await connect(url, http2 === '1' ? { http2: { idleTimeoutMs: 0 } } : {});
process.stdout.write('open\n');
let received = 0;
await session.consumeEach(() => void received++).catch(() => {});
const { code } = await session.closeReason;
process.stdout.write(`${JSON.stringify({ received, code })}\n`);
