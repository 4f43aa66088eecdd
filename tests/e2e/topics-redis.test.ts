/**
 * Topics across processes through a real redis-server: two built testees
 * (`/pubsub/<topic>`, REDIS_URL set) and two built demos (the chat room),
 * each in its own Node process, with our client subscribing on both. A
 * message published on either node reaches every subscriber on every node
 * exactly once (the sender included, its own node not twice), in order; a
 * restart of Redis is survived without user code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createClient } from 'redis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { DefaultWebSocketSession } from '../../src/session/default-session.ts';
import { connect } from '../../src/upgrade/connect.ts';
import { freePort } from '../support/interop.ts';
import { RedisServer } from '../support/redis-server.ts';
import { sleep, waitFor } from '../support/resources.ts';

const redis = await RedisServer.start();
const children: ChildProcess[] = [];

/** Starts a built example (`build/examples/<name>.js`) with REDIS_URL on a free port; resolves with the port. */
async function startNode(name: 'autobahn-testee' | 'demo-server'): Promise<number> {
  const port = await freePort();
  const args = name === 'autobahn-testee' ? ['--port', String(port)] : [];
  const child = spawn(process.execPath, [`build/examples/${name}.js`, ...args], {
    env: { ...process.env, REDIS_URL: redis.url, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => (output += text));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (output += text));
  await waitFor(() => /listening|demo server on/.test(output), 20_000, `${name} to start: ${output}`);
  assert.match(output, /Redis/, `${name} uses the Redis broker`);
  return port;
}

/** Collects every message a session receives. */
function collect(session: DefaultWebSocketSession): unknown[] {
  const got: unknown[] = [];
  void (async () => {
    for await (const message of session) got.push(message);
  })().catch(() => {});
  return got;
}

test.after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await redis.stop();
});

test('two testees on one Redis: every subscriber on both nodes gets each message exactly once, in order', async () => {
  const [p1, p2] = await Promise.all([startNode('autobahn-testee'), startNode('autobahn-testee')]);
  const a1 = await connect(`ws://127.0.0.1:${p1}/pubsub/room`);
  const a2 = await connect(`ws://127.0.0.1:${p1}/pubsub/room`);
  const b1 = await connect(`ws://127.0.0.1:${p2}/pubsub/room`);
  const elsewhere = await connect(`ws://127.0.0.1:${p2}/pubsub/other`);
  const ga1 = collect(a1);
  const ga2 = collect(a2);
  const gb1 = collect(b1);
  const gElsewhere = collect(elsewhere);
  // Each node subscribes the topic on Redis when its first subscriber arrives; wait until both did.
  await waitFor(async () => (await redisNumsub('ws:topic:room')) === 2, 5000, 'both nodes to subscribe "room" on Redis');
  for (let i = 0; i < 50; i++) {
    await a1.send(`a${i}`);
    await b1.send(Buffer.from([i]));
  }
  const expectedA = Array.from({ length: 50 }, (_, i) => `a${i}`);
  const expectedB = Array.from({ length: 50 }, (_, i) => Buffer.from([i]));
  for (const got of [ga1, ga2, gb1]) {
    await waitFor(() => got.length >= 100, 5000, 'all 100 messages');
    await sleep(100); // nothing more may come: exactly once
    assert.is(got.length, 100);
    assert.equal(got.filter((m) => typeof m === 'string'), expectedA, 'text from node 1 in order, once');
    assert.equal(got.filter((m) => typeof m !== 'string'), expectedB, 'binary from node 2 in order, once');
  }
  assert.equal(gElsewhere, [], 'another topic got nothing');
  for (const session of [a1, a2, b1, elsewhere]) await session.close();
});

test('the demo chat room is shared by two demos on one Redis', async () => {
  const [p1, p2] = await Promise.all([startNode('demo-server'), startNode('demo-server')]);
  const ann = await connect(`ws://127.0.0.1:${p1}/chat`);
  const bob = await connect(`ws://127.0.0.1:${p2}/chat`);
  const gotAnn = collect(ann);
  const gotBob = collect(bob);
  await waitFor(async () => (await redisNumsub('ws:topic:chat')) === 2, 5000, 'both demos to subscribe "chat"');
  await ann.send('hello from ann');
  await bob.send('hello from bob');
  const chats = (got: unknown[]) => got.map((m) => JSON.parse(String(m)) as { type: string; text?: string }).filter((m) => m.type === 'chat').map((m) => m.text);
  await waitFor(() => chats(gotAnn).length === 2 && chats(gotBob).length === 2, 5000, 'both chat messages on both demos');
  assert.equal(chats(gotAnn).sort(), ['hello from ann', 'hello from bob']);
  assert.equal(chats(gotBob).sort(), ['hello from ann', 'hello from bob']);
  await ann.close();
  await bob.close();
});

test('after Redis restarts, topics work again without any user code', async () => {
  const [p1, p2] = await Promise.all([startNode('autobahn-testee'), startNode('autobahn-testee')]);
  const a = await connect(`ws://127.0.0.1:${p1}/pubsub/again`);
  const b = await connect(`ws://127.0.0.1:${p2}/pubsub/again`);
  const gotB = collect(b);
  await waitFor(async () => (await redisNumsub('ws:topic:again')) === 2, 5000, 'both nodes subscribed');
  await redis.restart();
  await waitFor(async () => (await redisNumsub('ws:topic:again')) === 2, 10_000, 'both nodes to subscribe again after the restart');
  // The publisher's own client reconnects too: keep trying until a message crosses.
  await waitFor(
    async () => {
      await a.send('after restart');
      await sleep(50);
      return gotB.includes('after restart');
    },
    10_000,
    'a message to cross after the restart',
  );
  await a.close();
  await b.close();
});

/** Subscribers of a Redis channel (PUBSUB NUMSUB), asked on a fresh connection (-1 while Redis is down). */
async function redisNumsub(channel: string): Promise<number> {
  const client = createClient({ url: redis.url, socket: { reconnectStrategy: false } });
  client.on('error', () => {});
  try {
    await client.connect();
    const reply = (await client.sendCommand(['PUBSUB', 'NUMSUB', channel])) as [string, number];
    return Number(reply[1]);
  } catch {
    return -1;
  } finally {
    if (client.isOpen) await client.quit();
  }
}

test.run();
