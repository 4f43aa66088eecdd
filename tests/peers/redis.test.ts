/**
 * The Redis broker against a real redis-server (tests/support/redis-server.ts),
 * with every broker in a Node process of its own (tests/support/redis-node.ts).
 * Redis is a server only: our broker is always its client.
 *
 * With one redis-server for the suite: delivery across processes exactly
 * once and in order, origin exclusion, subscriptions on Redis only while
 * wanted, the envelope on the wire, gap and malformed-message reporting, and
 * close().
 *
 * When Redis goes away, with a fresh redis-server per test that the test
 * kills, restarts on the same port or pauses (SIGSTOP): publishes fail with a
 * typed error instead of hanging or being queued, subscriptions come back by
 * themselves (node-redis's own resubscription plus the broker's resending of
 * what the lost connection failed), and delivery works again without user
 * code.
 */
import { createClient } from 'redis';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BrokerStateError, BrokerUnavailableError, redisBroker, type RedisBrokerOptions } from '../../src/brokers/redis.ts';
import { RedisServer } from '../support/redis-server.ts';
import { eventually, RedisNode } from '../support/redis-node.ts';
import { sleep } from '../support/resources.ts';

const PREFIX = 'ws:topic:';
let redis: RedisServer;
let raw: ReturnType<typeof createClient>;
const nodes: RedisNode[] = [];

const broker = suite('the broker against one redis-server');
const outage = suite('outages: a fresh redis-server per test, killed, restarted or paused');

async function node(options: Record<string, unknown> = {}): Promise<RedisNode> {
  const started = await RedisNode.start(redis.url, options);
  nodes.push(started);
  return started;
}

/** Subscribers of each channel, as Redis counts them. */
async function numsub(...topics: string[]): Promise<number[]> {
  const reply = (await raw.sendCommand(['PUBSUB', 'NUMSUB', ...topics.map((t) => PREFIX + t)])) as unknown[];
  return topics.map((_, i) => Number(reply[2 * i + 1]));
}

async function channels(): Promise<string[]> {
  return ((await raw.sendCommand(['PUBSUB', 'CHANNELS', `${PREFIX}*`])) as string[]).sort();
}

/** An envelope built by hand, to check the wire format independently of the encoder. */
function envelope(origin: Buffer, sequence: number, payload: Buffer | string, flags = typeof payload === 'string' ? 0 : 1, version = 1): Buffer {
  const header = Buffer.alloc(18);
  header[0] = version;
  header[1] = flags;
  origin.copy(header, 2);
  header.writeBigUInt64BE(BigInt(sequence), 10);
  return Buffer.concat([header, Buffer.from(payload)]);
}

broker.before(async () => {
  redis = await RedisServer.start();
  raw = createClient({ url: redis.url });
  raw.on('error', () => {});
  await raw.connect();
});

broker.after.each(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.exit()));
  await eventually(async () => (await channels()).length === 0, 'no channel left subscribed');
});

broker.after(async () => {
  raw.destroy();
  await redis.stop();
});

broker('a message published on one node reaches every subscribed node exactly once, in order', async () => {
  const [a, b, c, d] = await Promise.all([node(), node(), node(), node()]);
  await b.ok('subscribe', { topic: 'room' });
  await c.ok('subscribe', { topic: 'room' });
  await d.ok('subscribe', { topic: 'other' });
  const texts = Array.from({ length: 300 }, (_, i) => `message ${i} ${'é'.repeat(i % 7)}`);
  const sent = await a.ok('publishMany', { topic: 'room', texts }); // all in flight at once
  assert.is(sent.failures, 0);
  assert.ok((await a.publish('room', Buffer.from([0, 0xff, 0x80, 1]))).ok);
  assert.ok((await a.publish('room', 'end')).ok);
  for (const n of [b, c]) {
    await n.waitFor(() => n.texts('room').includes('end'), 'the end marker');
    assert.equal(n.texts('room').slice(0, texts.length), texts);
    const binary = n.messages[texts.length]!;
    assert.ok(binary.binary);
    assert.equal([...binary.payload], [0, 0xff, 0x80, 1]);
    assert.is(n.messages.length, texts.length + 2, 'nothing delivered twice');
    assert.ok(n.messages.every((m, i) => m.binary === (i === texts.length)));
    assert.equal(n.gaps, []);
    const stats = await n.stats();
    assert.is(stats.delivered, texts.length + 2);
    assert.is(stats.malformed, 0);
  }
  // d follows another topic only; a none at all.
  assert.ok((await a.publish('other', 'for d')).ok);
  await d.waitFor(() => d.messages.length > 0, 'the message on the other topic');
  assert.equal(d.texts('other'), ['for d']);
  assert.is(d.messages.length, 1);
  assert.is(a.messages.length, 0);
  assert.is((await a.stats()).published, texts.length + 3);
});

broker('the origin node never gets its own messages back; it gets the others', async () => {
  const [a, b] = await Promise.all([node(), node()]);
  await a.ok('subscribe', { topic: 'chat' });
  await b.ok('subscribe', { topic: 'chat' });
  assert.ok((await a.publish('chat', 'a1')).ok);
  assert.ok((await a.publish('chat', 'a2')).ok);
  await b.waitFor(() => b.texts('chat').length === 2, "a's two messages");
  // Redis handled a's publishes before b's: a's copies of its own are already on a's connection.
  assert.ok((await b.publish('chat', 'b1')).ok);
  await a.waitFor(() => a.messages.length > 0, "b's message");
  assert.equal(a.texts('chat'), ['b1']);
  assert.equal(b.texts('chat'), ['a1', 'a2']);
  assert.is((await a.stats()).ownDropped, 2, 'a heard its two messages back and dropped them');
  assert.is((await b.stats()).ownDropped, 1);
});

broker('a node is subscribed on Redis only while it wants the topic; repeated calls are harmless', async () => {
  const [a, b, c] = await Promise.all([node(), node(), node()]);
  assert.equal(await numsub('t'), [0]);
  await a.ok('subscribe', { topic: 't' });
  await a.ok('subscribe', { topic: 't' });
  assert.equal(await numsub('t'), [1]);
  await b.ok('subscribe', { topic: 't' });
  assert.equal(await numsub('t'), [2]);
  assert.equal(await channels(), [`${PREFIX}t`]);

  await a.ok('unsubscribe', { topic: 't' });
  await a.ok('unsubscribe', { topic: 't' });
  await a.ok('unsubscribe', { topic: 'never-subscribed' });
  assert.equal(await numsub('t'), [1]);
  assert.ok((await c.publish('t', 'only b')).ok);
  await b.waitFor(() => b.messages.length === 1, 'the message');
  assert.ok((await c.publish('t', 'marker')).ok);
  await b.waitFor(() => b.messages.length === 2, 'the marker');
  assert.is(a.messages.length, 0, 'a unsubscribed: nothing for it');

  await b.ok('unsubscribe', { topic: 't' });
  assert.equal(await numsub('t'), [0]);
  assert.equal(await channels(), []);
  assert.ok((await c.publish('t', 'nobody listens')).ok, 'publishing to a topic nobody follows is fine');
});

broker('subscribe and unsubscribe calls made back to back take effect in order', async () => {
  const [a, b] = await Promise.all([node(), node()]);
  const flips = await a.ok('calls', {
    calls: [
      ['subscribe', 'x'],
      ['unsubscribe', 'x'],
      ['subscribe', 'x'],
      ['subscribe', 'y'],
      ['unsubscribe', 'y'],
    ],
  });
  assert.equal(flips.results, ['ok', 'ok', 'ok', 'ok', 'ok']);
  assert.equal(await numsub('x', 'y'), [1, 0]);
  assert.ok((await b.publish('x', 'to x')).ok);
  await a.waitFor(() => a.messages.length === 1, 'the message on x');
  assert.equal(a.texts('x'), ['to x']);

  const more = await a.ok('calls', {
    calls: [
      ['unsubscribe', 'x'],
      ['subscribe', 'x'],
      ['unsubscribe', 'x'],
    ],
  });
  assert.equal(more.results, ['ok', 'ok', 'ok']);
  assert.equal(await numsub('x', 'y'), [0, 0]);
});

broker('on the wire: version, flags, origin, a sequence per origin and topic, then the payload', async () => {
  const a = await node();
  const seen: Buffer[] = [];
  const listener = (message: Buffer): void => {
    seen.push(message);
  };
  const watcher = raw.duplicate();
  watcher.on('error', () => {});
  await watcher.connect();
  await watcher.subscribe([`${PREFIX}w1`, `${PREFIX}w2`], listener, true);
  try {
    assert.ok((await a.publish('w1', 'hi')).ok);
    assert.ok((await a.publish('w2', Buffer.from([7, 8]))).ok);
    assert.ok((await a.publish('w1', '')).ok);
    await eventually(async () => seen.length === 3, 'three raw messages');
    const origin = Buffer.from(a.origin, 'hex');
    assert.is(origin.length, 8);
    assert.equal(seen[0], envelope(origin, 1, 'hi'));
    assert.equal(seen[1], envelope(origin, 1, Buffer.from([7, 8])), 'w2 counts on its own');
    assert.equal(seen[2], envelope(origin, 2, ''));
  } finally {
    watcher.destroy();
  }
});

broker('a skipped sequence number is reported as a gap; the messages are still delivered', async () => {
  const b = await node();
  await b.ok('subscribe', { topic: 'g' });
  const origin = Buffer.from('0102030405060708', 'hex');
  const inject = async (sequence: number, text: string): Promise<void> => {
    await raw.publish(`${PREFIX}g`, envelope(origin, sequence, text));
  };
  await inject(1, 'one');
  await inject(2, 'two');
  await inject(5, 'five'); // 3 and 4 lost
  await inject(1, 'again'); // the origin started its count over: no gap
  await inject(4, 'four'); // 2 and 3 of the new count lost
  await inject(3, 'three'); // went back: a new count whose 1 and 2 were lost
  await b.waitFor(() => b.messages.length === 6, 'six messages');
  assert.equal(b.texts('g'), ['one', 'two', 'five', 'again', 'four', 'three']);
  assert.equal(b.gaps, [
    { origin: '0102030405060708', topic: 'g', expected: 3, received: 5 },
    { origin: '0102030405060708', topic: 'g', expected: 2, received: 4 },
    { origin: '0102030405060708', topic: 'g', expected: 1, received: 3 },
  ]);
  const stats = await b.stats();
  assert.is(stats.gaps, 3);
  assert.is(stats.lost, 6);

  // Another origin on the same topic counts on its own.
  await raw.publish(`${PREFIX}g`, envelope(Buffer.from('ffffffffffffffff', 'hex'), 7, 'first heard'));
  await b.waitFor(() => b.messages.length === 7, 'the other origin');
  assert.is(b.gaps.length, 3, "an origin's first message starts its count: no gap");
});

broker('malformed messages on a topic channel are reported and dropped; the node keeps working', async () => {
  const [a, b] = await Promise.all([node(), node()]);
  await b.ok('subscribe', { topic: 'm' });
  const origin = Buffer.from('aaaaaaaaaaaaaaaa', 'hex');
  const bad = [
    Buffer.from('hello'), // shorter than a header
    Buffer.alloc(0),
    envelope(origin, 1, 'x', 0, 2), // unknown version
    envelope(origin, 1, 'x', 0x80), // reserved flag
    envelope(origin, 0, 'x'), // sequence 0
    envelope(origin, 2 ** 53, 'x'), // beyond exact numbers
    envelope(origin, 1, Buffer.from([0x68, 0xff, 0x69]), 0), // text that is not UTF-8
  ];
  for (const message of bad) await raw.publish(`${PREFIX}m`, message);
  await b.waitFor(() => b.errors.length === bad.length, 'one error per malformed message');
  assert.ok(b.errors.every((e) => e.name === 'BrokerEnvelopeError'), JSON.stringify(b.errors));
  assert.is(b.messages.length, 0);
  assert.is((await b.stats()).malformed, bad.length);
  assert.ok((await a.publish('m', 'still fine')).ok);
  await b.waitFor(() => b.messages.length === 1, 'a good message after the bad ones');
  assert.equal(b.texts('m'), ['still fine']);
  assert.equal(b.gaps, []);
});

broker('close() unsubscribes, closes only the connection it created, and later calls reject', async () => {
  const a = await node();
  await a.ok('subscribe', { topic: 'c1' });
  await a.ok('subscribe', { topic: 'c2' });
  assert.equal(await numsub('c1', 'c2'), [1, 1]);
  const clientsBefore = await clientCount();
  const closed = await a.ok('close');
  assert.is(closed.clientOpen, true, "the user's client stays open");
  assert.equal(await numsub('c1', 'c2'), [0, 0]);
  await eventually(async () => (await clientCount()) === clientsBefore - 1, 'the duplicated subscriber connection to close');
  assert.is((await a.publish('c1', 'late')).error?.name, 'BrokerClosedError');
  assert.is((await a.request('subscribe', { topic: 'c1' })).error?.name, 'BrokerClosedError');
  await a.ok('unsubscribe', { topic: 'c1' });
  await a.ok('close'); // twice is fine
});

broker('close() right after an unsubscribe (a server closing its sessions, then the broker) reports nothing', async () => {
  const a = await node();
  await a.ok('subscribe', { topic: 'leaving' });
  const left = a.request('unsubscribe', { topic: 'leaving' }); // not awaited: its UNSUBSCRIBE is in flight at the close
  await a.ok('close');
  assert.is((await left).ok, true, 'the connection that held the subscription is gone: nothing left to undo');
  await a.ok('ping');
  assert.equal(a.errors, []);
  assert.equal(await numsub('leaving'), [0]);
});

broker('a topic with a lone UTF-16 surrogate (no UTF-8 form for a channel name) is refused with a TypeError', async () => {
  const [a, b] = await Promise.all([node(), node()]);
  assert.is((await b.request('subscribe', { topic: 'x\uD800' })).error?.name, 'TypeError');
  assert.is((await a.publish('x\uDC00', 'lost')).error?.name, 'TypeError');
  await b.ok('subscribe', { topic: 'caf\u00e9 \u{1F600}' }); // non-ASCII, surrogate pairs: fine
  assert.ok((await a.publish('caf\u00e9 \u{1F600}', 'arrives')).ok);
  await b.waitFor(() => b.messages.length === 1, 'the message');
  assert.equal(b.texts('caf\u00e9 \u{1F600}'), ['arrives']);
});

broker("close() with the user's own subscriber client leaves it open", async () => {
  const a = await node({ ownSubscriber: true });
  await a.ok('subscribe', { topic: 'own' });
  assert.equal(await numsub('own'), [1]);
  const closed = await a.ok('close');
  assert.is(closed.clientOpen, true);
  assert.is(closed.subscriberOpen, true);
  assert.equal(await numsub('own'), [0]);
});

broker('close() while its own subscriber connection is still opening closes that connection too (the process can exit)', async () => {
  const before = await clientCount();
  for (let round = 0; round < 3; round++) {
    const client = createClient({ url: redis.url });
    client.on('error', () => {});
    await client.connect();
    const opening = redisBroker({ client });
    const errors: unknown[] = [];
    opening.attach({ message() {}, gap() {}, error: (error) => void errors.push(error) });
    const subscribed = opening.subscribe('opening').then(() => undefined, (error: unknown) => error);
    await opening.close(); // the first subscribe's connect() is still in progress
    await subscribed;
    await client.quit();
    await eventually(async () => (await clientCount()) === before, 'the connections of the client and of the broker to close');
    assert.equal(errors, []);
  }
});

broker('a publish-only node opens no subscriber connection', async () => {
  const clientsBefore = await clientCount();
  const a = await node();
  assert.ok((await a.publish('p', 'x')).ok);
  assert.is(await clientCount(), clientsBefore + 1);
});

broker('sequence counts are bounded: a forgotten topic counts from 1 again, a forgotten origin starts without a gap check', async () => {
  const a = await node({ maxPublishTopics: 4 }); // generations of 2 topics
  const b = await node({ maxOriginsPerTopic: 2 }); // generations of 1 origin
  const seen: { channel: string; sequence: number }[] = [];
  const watcher = raw.duplicate();
  watcher.on('error', () => {});
  await watcher.connect();
  await watcher.pSubscribe(`${PREFIX}s*`, (message: Buffer, channel: Buffer) => {
    seen.push({ channel: channel.toString().slice(PREFIX.length), sequence: Number(message.readBigUInt64BE(10)) });
  }, true);
  try {
    for (const topic of ['s1', 's2', 's3', 's4', 's3', 's1']) assert.ok((await a.publish(topic, 'x')).ok);
    await eventually(async () => seen.length === 6, 'six raw messages');
    assert.equal(seen, [
      { channel: 's1', sequence: 1 },
      { channel: 's2', sequence: 1 },
      { channel: 's3', sequence: 1 },
      { channel: 's4', sequence: 1 },
      { channel: 's3', sequence: 2 }, // used recently: kept
      { channel: 's1', sequence: 1 }, // two generations ago: forgotten, counts again
    ]);
  } finally {
    watcher.destroy();
  }

  await b.ok('subscribe', { topic: 'o' });
  const first = Buffer.from('1111111111111111', 'hex');
  const second = Buffer.from('2222222222222222', 'hex');
  await raw.publish(`${PREFIX}o`, envelope(first, 1, 'first 1'));
  await raw.publish(`${PREFIX}o`, envelope(second, 1, 'second 1'));
  await raw.publish(`${PREFIX}o`, envelope(first, 5, 'first 5')); // first was forgotten: no gap check
  await raw.publish(`${PREFIX}o`, envelope(first, 7, 'first 7')); // remembered again: 6 is missing
  await b.waitFor(() => b.messages.length === 4, 'four messages');
  assert.equal(b.gaps, [{ origin: '1111111111111111', topic: 'o', expected: 6, received: 7 }]);
});

broker('invalid options and misuse throw typed errors', async () => {
  const client = createClient({ url: redis.url });
  for (const bad of [{ commandTimeoutMs: 0 }, { commandTimeoutMs: 2 ** 31 }, { maxPublishTopics: 1.5 }, { maxOriginsPerTopic: -1 }]) {
    assert.throws(() => redisBroker({ client, ...bad }), (error: unknown) => error instanceof RangeError, JSON.stringify(bad));
  }
  assert.throws(() => redisBroker({ client, channelPrefix: 1 as unknown as string }), (error: unknown) => error instanceof TypeError);
  assert.throws(() => redisBroker({} as RedisBrokerOptions), (error: unknown) => error instanceof TypeError);
  const broker = redisBroker({ client, subscriber: client });
  const rejection = (promise: Promise<unknown>): Promise<unknown> => promise.then(() => assert.unreachable('resolved'), (error: unknown) => error);
  assert.instance(await rejection(broker.subscribe('t')), BrokerStateError, 'subscribe before attach');
  const payload = Buffer.from('x');
  assert.instance(await rejection(broker.publish({ topic: 't', binary: false, payload })), BrokerUnavailableError, 'client not connected');
  broker.attach({ message() {}, gap() {}, error() {} });
  assert.throws(() => broker.attach({ message() {}, gap() {}, error() {} }), (error: unknown) => error instanceof BrokerStateError);
  assert.instance(await rejection(broker.subscribe('t')), BrokerUnavailableError, 'subscriber not connected');
  await broker.close();
});

async function clientCount(): Promise<number> {
  const list = (await raw.sendCommand(['CLIENT', 'LIST'])) as string;
  return list.trim().split('\n').length;
}

// ---------------------------------------------------------------------------
// Outages.

/** Short, so that the tests wait little for a timeout. */
const OUTAGE_OPTIONS = { commandTimeoutMs: 1_000 };

async function numsubIs(topics: string[], expected: number[]): Promise<void> {
  await eventually(async () => JSON.stringify(await numsub(...topics)) === JSON.stringify(expected), `NUMSUB ${topics} = ${expected}`);
}

/** Waits until the node's own client has noticed that Redis is gone. */
async function clientDown(n: RedisNode): Promise<void> {
  await eventually(async () => (await n.ok('clientReady')).ready === false, 'the client to notice the outage');
}

const connectionEvents = (n: RedisNode): string[] => n.errors.flatMap((e) => (e.connection === undefined ? [] : [e.connection]));

outage.before.each(async () => {
  redis = await RedisServer.start();
  raw = createClient({ url: redis.url, socket: { reconnectStrategy: () => 50 } });
  raw.on('error', () => {});
  await raw.connect();
});

outage.after.each(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.exit()));
  raw.destroy();
  await redis.stop();
});

outage('after Redis restarts, topics work again without user code; publishes while it is down reject at once', async () => {
  const [a, b] = await Promise.all([node(OUTAGE_OPTIONS), node(OUTAGE_OPTIONS)]);
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

outage('commands the lost connection failed in flight are sent again when it comes back', async () => {
  const [a, b] = await Promise.all([node(OUTAGE_OPTIONS), node(OUTAGE_OPTIONS)]);
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

outage('a topic subscribed while the connection is down, with no other topic confirmed, is received once Redis is back', async () => {
  const [a, b] = await Promise.all([node(OUTAGE_OPTIONS), node(OUTAGE_OPTIONS)]);
  await b.ok('subscribe', { topic: 'warm-up' }); // opens b's subscriber connection
  await b.ok('unsubscribe', { topic: 'warm-up' }); // so that Redis has confirmed nothing on it when it goes
  await numsubIs(['warm-up'], [0]);
  await redis.stop({ signal: 'SIGKILL', keepDir: true });
  await b.waitFor(() => connectionEvents(b).includes('lost'), "b's subscriber connection to notice the outage");
  assert.is((await b.request('subscribe', { topic: 'late' })).error?.name, 'BrokerTimeoutError');
  await redis.restart();
  await b.waitFor(() => connectionEvents(b).includes('restored'), "b's subscriber connection to come back");
  await numsubIs(['late'], [1]);
  await eventually(async () => (await a.ok('clientReady')).ready === true, "a's client to come back");
  assert.ok((await a.publish('late', 'one')).ok);
  assert.ok((await a.publish('late', 'two')).ok);
  await b.waitFor(() => b.texts('late').length === 2, 'both messages');
  assert.equal(b.texts('late'), ['one', 'two']);
  assert.equal(connectionEvents(b), ['lost', 'restored']);
  assert.equal(b.errors.filter((e) => e.connection === undefined), [], 'no other error');
});

outage('the first subscribe while Redis is down opens the subscriber connection, which subscribes once Redis is up', async () => {
  const [a, b] = await Promise.all([node(OUTAGE_OPTIONS), node(OUTAGE_OPTIONS)]);
  await redis.stop({ signal: 'SIGKILL', keepDir: true });
  await clientDown(b);
  // b's subscriber connection does not exist yet: this subscribe opens it, against a Redis that is down.
  assert.is((await b.request('subscribe', { topic: 'boot' })).error?.name, 'BrokerTimeoutError');
  await redis.restart();
  await numsubIs(['boot'], [1]);
  await eventually(async () => (await a.ok('clientReady')).ready === true, "a's client to come back");
  assert.ok((await a.publish('boot', 'hello')).ok);
  await b.waitFor(() => b.texts('boot').length === 1, 'the message');
  assert.equal(b.texts('boot'), ['hello']);
  assert.equal(b.errors.filter((e) => e.connection === undefined), [], 'no other error');
});

outage('close() while a subscribe waits for the connection settles it at once, with nothing reported', async () => {
  const b = await node(OUTAGE_OPTIONS);
  await redis.stop({ signal: 'SIGKILL', keepDir: true });
  await clientDown(b);
  const waiting = b.request('subscribe', { topic: 'never' }); // opens the subscriber connection, which cannot get ready
  await sleep(100);
  const started = Date.now();
  await b.ok('close');
  const settled = await waiting;
  assert.is(settled.ok, true, JSON.stringify(settled.error));
  assert.ok(Date.now() - started < OUTAGE_OPTIONS.commandTimeoutMs, 'settled by the close, not by the command timeout');
  await b.ok('ping');
  assert.equal(b.errors.filter((e) => e.connection === undefined), []);
});

outage('a publish to a Redis that stopped answering rejects after the command timeout instead of hanging', async () => {
  const [a, b] = await Promise.all([node(OUTAGE_OPTIONS), node(OUTAGE_OPTIONS)]);
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

outage('subscriber connections killed by Redis come back and resubscribe; the loss is reported', async () => {
  const [a, b] = await Promise.all([node(OUTAGE_OPTIONS), node(OUTAGE_OPTIONS)]);
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

broker.run();
outage.run();
