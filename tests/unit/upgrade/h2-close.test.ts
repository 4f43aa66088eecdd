/**
 * `closeHttp2Session` over loopback: a graceful close of a node:http2
 * session lets the socket go once our GOAWAY and FIN are written, even when
 * the peer never sends its own FIN (node's `close()` alone keeps the socket,
 * and the session's `'close'`, until it does). The peer here is a raw TCP
 * client that sends the preface and never ends its side.
 */
import { once } from 'node:events';
import { createServer, type Http2Session } from 'node:http2';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeHttp2Session } from '../../../src/upgrade/h2-close.ts';
import { sleep, tcpSockets } from '../../support/resources.ts';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** An empty SETTINGS frame (RFC 9113 section 6.5). */
const SETTINGS = Buffer.from([0, 0, 0, 0x4, 0, 0, 0, 0, 0]);

/** The count once the sockets of an earlier test have finished closing. */
async function settledTcpSockets(): Promise<number> {
  await sleep(100);
  return tcpSockets();
}

async function sessionWithSilentPeer(): Promise<{ session: Http2Session; peerSawGoaway: () => boolean; close: () => void }> {
  const server = createServer();
  const sessions = once(server, 'session') as Promise<[Http2Session]>;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const peer = netConnect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  peer.on('error', () => {});
  let received = Buffer.alloc(0);
  peer.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
  await once(peer, 'connect');
  peer.write(Buffer.concat([PREFACE, SETTINGS]));
  const [[session]] = await Promise.all([sessions]);
  await sleep(50); // the server's SETTINGS are out
  server.close();
  const peerSawGoaway = (): boolean => {
    for (let at = 0; at + 9 <= received.length; at += 9 + received.readUIntBE(at, 3)) if (received[at + 3] === 0x7) return true;
    return false;
  };
  return { session, peerSawGoaway, close: () => peer.destroy() };
}

test('a graceful close whose peer never sends its FIN: GOAWAY, our FIN, and the socket is let go; the session emits close', async () => {
  const before = await settledTcpSockets();
  const { session, peerSawGoaway, close } = await sessionWithSilentPeer();
  try {
    assert.is(tcpSockets(), before + 2, 'the peer and the server socket');
    const closed = once(session, 'close').then(() => true);
    closeHttp2Session(session);
    assert.ok(await Promise.race([closed, sleep(2000).then(() => false)]), "the session waited for the peer's FIN");
    const deadline = Date.now() + 2000;
    while (tcpSockets() > before + 1 && Date.now() < deadline) await sleep(10);
    assert.is(tcpSockets(), before + 1, "only the peer's socket is left");
    assert.ok(peerSawGoaway(), 'the peer got GOAWAY');
  } finally {
    close();
  }
});

test('without it, node keeps the socket until the peer\'s FIN (what the function is for)', async () => {
  const before = await settledTcpSockets();
  const { session, close } = await sessionWithSilentPeer();
  try {
    let closed = false;
    session.once('close', () => (closed = true));
    session.close();
    await sleep(300);
    assert.is(closed, false);
    assert.is(tcpSockets(), before + 2, 'the server socket is still held');
  } finally {
    close();
  }
});

test('a session closed or destroyed already is left as it is', async () => {
  const { session, close } = await sessionWithSilentPeer();
  try {
    session.destroy();
    closeHttp2Session(session); // no socket to reach: must not throw
    assert.ok(session.destroyed);
  } finally {
    close();
  }
});

test.run();
