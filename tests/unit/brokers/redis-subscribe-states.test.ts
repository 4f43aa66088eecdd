/**
 * The Redis broker's subscribe states against a scripted client, for the
 * orders of events a real redis-server cannot be made to produce on demand
 * (tests/peers/redis.test.ts runs the common ones against a real one): a
 * SUBSCRIBE sent on 'ready' that fails, a 'ready' event while the client
 * says it is not ready, an unsubscribe and a subscribe again while waiting.
 */
import { EventEmitter } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BrokerCommandError } from '../../../src/brokers/errors.ts';
import { redisBroker, type RedisClientLike } from '../../../src/brokers/redis.ts';

/** A node-redis stand-in: opens when asked, gets ready when the test says, answers SUBSCRIBE as scripted. */
class ScriptedClient extends EventEmitter {
  isOpen = false;
  isReady = false;
  readonly sent: string[] = [];
  answer: () => Promise<void> = () => Promise.resolve();
  /** What `duplicate()` gives (the broker's subscriber connection). */
  twin: ScriptedClient | undefined;

  async sendCommand(): Promise<unknown> {
    return 0;
  }
  subscribe(channel: string): Promise<void> {
    this.sent.push(`SUBSCRIBE ${channel}`);
    return this.answer();
  }
  unsubscribe(channel: string): Promise<void> {
    this.sent.push(`UNSUBSCRIBE ${channel}`);
    return Promise.resolve();
  }
  duplicate(): ScriptedClient {
    return this.twin ?? this;
  }
  async connect(): Promise<void> {
    this.isOpen = true;
  }
  async disconnect(): Promise<void> {
    this.isOpen = this.isReady = false;
  }
  getReady(): void {
    this.isReady = true;
    this.emit('ready');
  }
}

function setUp(): { subscriber: ScriptedClient; broker: ReturnType<typeof redisBroker>; reported: Error[] } {
  const client = new ScriptedClient();
  client.isOpen = client.isReady = true;
  const subscriber = new ScriptedClient();
  client.twin = subscriber;
  const broker = redisBroker({ client: asClient(client), commandTimeoutMs: 1000 });
  const reported: Error[] = [];
  broker.attach({ message() {}, gap() {}, error: (error) => reported.push(error) });
  return { subscriber, broker, reported };
}

function asClient(client: ScriptedClient): RedisClientLike {
  return client as unknown as RedisClientLike;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('a subscribe that waited for the connection hears of the failed SUBSCRIBE itself; it is not reported a second time', async () => {
  const { subscriber, broker, reported } = setUp();
  subscriber.answer = () => Promise.reject(new Error('ERR scripted'));
  const waiting = broker.subscribe('t').then(
    () => undefined,
    (error: unknown) => error,
  );
  await turn();
  assert.equal(subscriber.sent, [], 'nothing sent before the connection is ready');
  subscriber.getReady();
  assert.instance(await waiting, BrokerCommandError);
  await turn();
  assert.equal(subscriber.sent, ['SUBSCRIBE ws:topic:t']);
  assert.equal(reported, []);
  await broker.close();
});

test("a 'ready' while the client still says it is not ready keeps the caller's wait; the SUBSCRIBE on the real one settles it", async () => {
  const { subscriber, broker } = setUp();
  let settled: unknown = 'pending';
  void broker.subscribe('t').then(
    () => (settled = 'subscribed'),
    (error: unknown) => (settled = error),
  );
  await turn();
  subscriber.emit('ready'); // isReady still false
  await turn();
  assert.is(settled, 'pending');
  subscriber.getReady();
  await turn();
  assert.is(settled, 'subscribed');
  assert.equal(subscriber.sent, ['SUBSCRIBE ws:topic:t']);
  await broker.close();
});

test('subscribe, unsubscribe and subscribe again while waiting: both subscribes resolve, one SUBSCRIBE goes out', async () => {
  const { subscriber, broker, reported } = setUp();
  const first = broker.subscribe('t');
  await broker.unsubscribe('t');
  const second = broker.subscribe('t');
  await turn();
  subscriber.getReady();
  await Promise.all([first, second]);
  assert.equal(subscriber.sent, ['SUBSCRIBE ws:topic:t']);
  assert.equal(reported, []);
  await broker.close();
});

test.run();
