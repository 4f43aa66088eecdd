/**
 * No uninitialised memory reaches the wire (the ws advisory class where
 * `Buffer.allocUnsafe` output was sent without being fully overwritten).
 * Every `Buffer.allocUnsafe`/`allocUnsafeSlow` in this process is poisoned
 * with 0xEE, so a byte the library allocates but forgets to write shows up
 * as 0xEE; then the exact bytes the server sends are compared with frames
 * built independently here: close frames, pongs, coalesced batches of small
 * frames, large frames, and messages reassembled from small fragments.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Opcode } from '../../../src/frames/frame.ts';
import type { WebSocketHandler } from '../../../src/upgrade/serve.ts';
import { handshakeRequest } from '../../support/raw-client.ts';
import { startServer } from '../../support/server.ts';
import { waitFor } from '../../support/resources.ts';
import { maskedFrame, WireClient } from '../../support/wire-client.ts';

const POISON = 0xee;
const allocUnsafe = Buffer.allocUnsafe;
const allocUnsafeSlow = Buffer.allocUnsafeSlow;
Buffer.allocUnsafe = (size: number) => allocUnsafe(size).fill(POISON);
Buffer.allocUnsafeSlow = (size: number) => allocUnsafeSlow(size).fill(POISON);

/** An unmasked server frame, built byte by byte. */
function serverFrame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const first = 0x80 | opcode;
  let header: number[];
  if (n < 126) header = [first, n];
  else if (n < 0x10000) header = [first, 126, n >> 8, n & 0xff];
  else header = [first, 127, 0, 0, 0, 0, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from(header), payload]);
}

function closePayload(code: number, reason = ''): Buffer {
  const out = Buffer.from([code >> 8, code & 0xff]);
  return Buffer.concat([out, Buffer.from(reason)]);
}

function filled(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = (seed + i * 13) & 0x7f; // ASCII: valid as text too
  return out;
}

/** Runs `handler`, lets `drive` talk to it, and returns every byte after the 101 once the server closed. */
async function wire(handler: WebSocketHandler, drive: (client: WireClient) => void | Promise<void>): Promise<Buffer> {
  const server = await startServer(handler, { session: { closeTimeoutMs: 200 } });
  const client = await WireClient.connect(server.port);
  client.write(handshakeRequest());
  await waitFor(() => client.statusLine !== '', 5000, 'the 101');
  await drive(client);
  await client.untilClosed();
  await server.close();
  return client.afterHead;
}

function assertBytes(actual: Buffer, expected: Buffer): void {
  const at = actual.findIndex((byte, i) => byte !== expected[i]);
  assert.ok(
    actual.equals(expected),
    `wire differs at byte ${at} of ${actual.length} (expected ${expected.length}): ` +
      `got ${actual.subarray(Math.max(0, at), at + 16).toString('hex')}, ` +
      `want ${expected.subarray(Math.max(0, at), at + 16).toString('hex')}`,
  );
}

test('a close frame with code and reason: exactly its bytes', async () => {
  const bytes = await wire(
    async (session) => {
      await session.close(4000, 'bye now');
    },
    (client) => client.write(maskedFrame(Opcode.Close, closePayload(4000))),
  );
  assertBytes(bytes, serverFrame(Opcode.Close, closePayload(4000, 'bye now')));
});

test('pongs (empty, short, 125 bytes) and the echoed close: exactly their bytes', async () => {
  const pings = [Buffer.alloc(0), Buffer.from('abc'), filled(125, 3)];
  const bytes = await wire(
    async (session) => {
      for await (const _ of session);
    },
    (client) => {
      for (const ping of pings) client.write(maskedFrame(Opcode.Ping, ping));
      client.write(maskedFrame(Opcode.Close, closePayload(1000)));
    },
  );
  const expected = [...pings.map((p) => serverFrame(Opcode.Pong, p)), serverFrame(Opcode.Close, closePayload(1000))];
  assertBytes(bytes, Buffer.concat(expected));
});

test('a coalesced batch of 300 small frames, then large ones: exactly their bytes', async () => {
  const messages: Buffer[] = [];
  for (let i = 0; i < 300; i++) messages.push(filled(i % 140, i));
  messages.push(filled(1500, 7), filled(70_000, 9), filled(3, 1));
  const bytes = await wire(
    async (session) => {
      // Sent without awaiting each: the writer batches them into one output write.
      await Promise.all(messages.map((m, i) => session.send(i % 2 === 0 ? m : m.toString('latin1'))));
      await session.close(1000);
    },
    (client) => client.write(maskedFrame(Opcode.Close, closePayload(1000))),
  );
  const expected = messages.map((m, i) => serverFrame(i % 2 === 0 ? Opcode.Binary : Opcode.Text, m));
  expected.push(serverFrame(Opcode.Close, closePayload(1000)));
  assertBytes(bytes, Buffer.concat(expected));
});

test('the close after a protocol error (no reason): exactly its bytes', async () => {
  const bytes = await wire(
    async (session) => {
      try {
        for await (const _ of session);
      } catch {
        // the 1002 below
      }
    },
    (client) => client.write(Buffer.from([0x82, 0x00])), // unmasked: 1002
  );
  assertBytes(bytes, serverFrame(Opcode.Close, closePayload(1002)));
});

test('messages reassembled from small fragments echo back exactly', async () => {
  const payloads = [filled(5000, 1), filled(17, 2), filled(1, 3)];
  const bytes = await wire(
    async (session) => {
      for await (const message of session) await session.send(message);
    },
    async (client) => {
      for (const payload of payloads) {
        for (let at = 0; at < payload.length; at += 7) {
          const first = at === 0;
          const last = at + 7 >= payload.length;
          client.write(maskedFrame(first ? Opcode.Binary : Opcode.Continuation, payload.subarray(at, at + 7), last));
        }
      }
      await client.untilAfterHead(payloads.reduce((n, p) => n + serverFrame(Opcode.Binary, p).length, 0));
      client.write(maskedFrame(Opcode.Close, closePayload(1000)));
    },
  );
  const expected = [...payloads.map((p) => serverFrame(Opcode.Binary, p)), serverFrame(Opcode.Close, closePayload(1000))];
  assertBytes(bytes, Buffer.concat(expected));
});

test('poisoning is in force (the check above would see forgotten bytes)', () => {
  assert.is(Buffer.allocUnsafe(8)[3], POISON);
});

test.run();
