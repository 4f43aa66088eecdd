/**
 * The Redis broker when Redis goes away, against a real redis-server that
 * the tests kill, restart on the same port and pause (SIGSTOP), with every
 * broker in a Node process of its own: publishes fail with a typed error
 * instead of hanging or being queued, subscriptions come back by themselves
 * (node-redis's own resubscription plus the broker's resending of what the
 * lost connection failed), and delivery works again without user code.
 */
import { createClient } from 'redis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RedisServer } from '../support/redis-server.ts';
import { eventually, RedisNode } from './redis-node.ts';

const PREFIX = 'ws:topic:';
/** Short, so that the tests wait little for a timeout. */
const OPTIONS = { commandTimeoutMs: 1_000 };
let redis: RedisServer;
let raw: ReturnType<typeof createClient>;
const nodes: RedisNode[] = [];

async function node(): Promise<RedisNode> {
  const started = await RedisNode.start(redis.url, OPTIONS);
  nodes.push(started);
  return started;
}

async function numsub(...topics: string[]): Promise<number[]> {
  const reply = (await raw.sendCommand(['PUBSUB', 'NUMSUB', ...topics.map((t) => PREFIX + t)])) as unknown[];
  return topics.map((_, i) => Number(reply[2 * i + 1]));
}

async function numsubIs(topics: string[], expected: number[]): Promise<void> {
  await eventually(async () => JSON.stringify(await numsub(...topics)) === JSON.stringify(expected), `NUMSUB ${topics} = ${expected}`);
}

/** Waits until the node's own client has noticed that Redis is gone. */
async function clientDown(n: RedisNode): Promise<void> {
  await eventually(async () => (await n.ok('clientReady')).ready === false, 'the client to notice the outage');
}

const connectionEvents = (n: RedisNode): string[] => n.errors.flatMap((e) => (e.connection === undefined ? [] : [e.connection]));

test.before.each(async () => {
  redis = await RedisServer.start();
  raw = createClient({ url: redis.url, socket: { reconnectStrategy: () => 50 } });
  raw.on('error', () => {});
  await raw.connect();
});

test.after.each(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.exit()));
  raw.destroy();
  await redis.stop();
});

test('after Redis restarts, topics work again without user code; publishes while it is down reject at once', async () => {
  const [a, b] = await Promise.all([node(), node()]);
  await b.ok('subscribe', { topic: 'r' });
  await b.ok('subscribe', { topic: 'r2' });
  await a.ok('subscribe', { topic: 'r' });
  assert.ok((await a.publish('r', 'before')).ok);
  await b.waitFor(() => b.messages.length === 1, 'the first message');

  await redis.stop({ signal: 'SIGKILL', keepDir: true });
  await clientDown(a);
  const down = await a.publish('r', 'while down');
  assert.is(down.ok, false);
  assert.is(down.error?.name, 'BrokerUnavailableError', 'rejected at once: not queued, not timed out');
  // Commands the subscriber connection cannot send now: the caller hears of it, the broker keeps the intent.
  assert.is((await b.request('subscribe', { topic: 'r3' })).error?.name, 'BrokerTimeoutError');
  assert.is((await b.request('unsubscribe', { topic: 'r2' })).error?.name, 'BrokerTimeoutError');

  await redis.restart();
  await b.waitFor(() => connectionEvents(b).includes('restored'), "b's subscriber connection to come back");
  await numsubIs(['r', 'r2', 'r3'], [2, 0, 1]);
  await eventually(async () => (await a.ok('clientReady')).ready === true, "a's client to come back");
  assert.ok((await a.publish('r', 'after')).ok);
  assert.ok((await a.publish('r3', 'new topic')).ok);
  await b.waitFor(() => b.messages.length === 3, 'the messages after the restart');
  assert.equal(b.texts('r'), ['before', 'after']);
  assert.equal(b.texts('r3'), ['new topic']);
  assert.equal(b.gaps, [], 'a publish that was rejected used no sequence number');
  assert.equal(connectionEvents(b), ['lost', 'restored'], 'one report per outage, not one per reconnect attempt');
  assert.is(a.messages.length, 0);
});

test('commands the lost connection failed in flight are sent again when it comes back', async () => {
  const [a, b] = await Promise.all([node(), node()]);
  await b.ok('subscribe', { topic: 'keep' });
  await b.ok('subscribe', { topic: 'leave' });
  redis.pause(); // the commands below are written but get no answer
  assert.is((await b.request('subscribe', { topic: 'inflight' })).error?.name, 'BrokerTimeoutError');
  assert.is((await b.request('unsubscribe', { topic: 'leave' })).error?.name, 'BrokerTimeoutError');
  await redis.stop({ signal: 'SIGKILL', keepDir: true }); // the connection dies with the commands unanswered
  await redis.restart();
  await b.waitFor(() => connectionEvents(b).includes('restored'), 'the connection to come back');
  // node-redis resubscribes what Redis had confirmed ('keep', and 'leave', whose UNSUBSCRIBE failed);
  // the broker sends SUBSCRIBE 'inflight' and UNSUBSCRIBE 'leave' again.
  await numsubIs(['keep'], [1]);
  await numsubIs(['keep', 'inflight', 'leave'], [1, 1, 0]);
  await eventually(async () => (await a.ok('clientReady')).ready === true, "a's client to come back");
  assert.ok((await a.publish('inflight', 'arrives')).ok);
  assert.ok((await a.publish('leave', 'does not')).ok);
  assert.ok((await a.publish('keep', 'marker')).ok);
  await b.waitFor(() => b.texts('keep').includes('marker'), 'the marker');
  assert.equal(b.texts('inflight'), ['arrives']);
  assert.equal(b.texts('leave'), []);
});

test('a publish to a Redis that stopped answering rejects after the command timeout instead of hanging', async () => {
  const [a, b] = await Promise.all([node(), node()]);
  await b.ok('subscribe', { topic: 's' });
  redis.pause();
  try {
    const stalled = await a.publish('s', 'stalled');
    assert.is(stalled.ok, false);
    assert.is(stalled.error?.name, 'BrokerTimeoutError');
  } finally {
    redis.resume();
  }
  assert.ok((await a.publish('s', 'after')).ok);
  await b.waitFor(() => b.texts('s').includes('after'), 'the message after the pause');
  assert.equal(b.gaps, []);
  const stats = await a.stats();
  assert.is(stats.publishFailures, 1);
});

test('subscriber connections killed by Redis come back and resubscribe; the loss is reported', async () => {
  const [a, b] = await Promise.all([node(), node()]);
  await a.ok('subscribe', { topic: 'k' });
  await b.ok('subscribe', { topic: 'k' });
  await raw.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
  for (const n of [a, b]) await n.waitFor(() => connectionEvents(n).includes('restored'), 'the subscriber connection to come back');
  await numsubIs(['k'], [2]);
  assert.ok((await a.publish('k', 'from a')).ok);
  assert.ok((await b.publish('k', 'from b')).ok);
  await a.waitFor(() => a.messages.length === 1, "b's message");
  await b.waitFor(() => b.messages.length === 1, "a's message");
  assert.equal(a.texts('k'), ['from b']);
  assert.equal(b.texts('k'), ['from a']);
  assert.equal(connectionEvents(a), ['lost', 'restored']);
});

test.run();
