/**
 * 1,000 concurrent WebSockets on ONE HTTP/2 connection (the server allows
 * exactly 1,000 concurrent streams, so a second connection would show),
 * opened by 1,000 concurrent `connect(url, { http2: true })` calls. Each
 * sends 20 messages at once (text and binary, 1 byte to 4 KiB, every one
 * distinct) and checks its echoes one by one, in order; then all close.
 * Every message is accounted for on both sides, every job on both sides
 * completes, and the server saw one connection.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { DefaultWebSocketSession, Message } from '../../src/session/default-session.ts';
import { connect } from '../../src/upgrade/connect.ts';
import { startH2Server } from '../support/h2.ts';

const SESSIONS = 1_000;
const MESSAGES = 20;

/** Message `m` of session `s`: text for even m, binary for odd, sizes spread from 1 B to 4 KiB. */
function messageOf(s: number, m: number): string | Buffer {
  const size = 1 + ((s * 7919 + m * 104_729) % 4096);
  const label = `${s}:${m}:`;
  if (m % 2 === 0) return label + 'x'.repeat(Math.max(0, size - label.length));
  const bytes = Buffer.alloc(Math.max(size, label.length), s % 256);
  bytes.write(label, 0, 'latin1');
  return bytes;
}

function same(a: Message, b: string | Buffer): boolean {
  return typeof a === 'string' ? a === b : typeof b !== 'string' && a.equals(b);
}

test('1,000 WebSockets on one HTTP/2 connection, 20,000 messages echoed, every one accounted for', async () => {
  let serverReceived = 0;
  const server = await startH2Server(
    async (session) => {
      for await (const message of session) {
        serverReceived++;
        await session.send(message);
      }
    },
    { limits: { maxConcurrentStreams: SESSIONS } },
  );
  try {
    const url = `ws://127.0.0.1:${server.port}/many`;
    const sessions: DefaultWebSocketSession[] = await Promise.all(
      Array.from({ length: SESSIONS }, () => connect(url, { http2: true, handshakeTimeoutMs: 30_000 })),
    );
    assert.is(server.connections.length, 1, 'one HTTP/2 connection');
    assert.is(server.jobs.length, SESSIONS);

    let echoed = 0;
    const mismatches: string[] = [];
    await Promise.all(
      sessions.map(async (session, s) => {
        const sends = Array.from({ length: MESSAGES }, (_, m) => session.send(messageOf(s, m)));
        for (let m = 0; m < MESSAGES; m++) {
          const echo = await session.receive();
          if (same(echo, messageOf(s, m))) echoed++;
          else mismatches.push(`session ${s} message ${m}`);
        }
        await Promise.all(sends);
      }),
    );
    assert.equal(mismatches, []);
    assert.is(echoed, SESSIONS * MESSAGES);
    assert.is(serverReceived, SESSIONS * MESSAGES);

    const reasons = await Promise.all(sessions.map((session) => session.close()));
    assert.ok(reasons.every((reason) => reason.code === 1000));
    await Promise.all(sessions.map((session) => session.raw.job.join()));
    assert.ok(sessions.every((session) => session.raw.job.state === 'completed'));
    await Promise.all(server.jobs.map((job) => job.join()));
    assert.ok(server.jobs.every((job) => job.state === 'completed'));
    assert.is(server.connections.length, 1);
  } finally {
    await server.close();
  }
});

test.run();
