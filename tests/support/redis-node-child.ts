/**
 * One node of the Redis broker tests, run as its own process by
 * tests/support/redis-node.ts (`node --import tsx redis-node-child.ts`): a
 * node-redis client and a `redisBroker` on it, driven by JSON lines on stdin,
 * reporting on stdout as JSON lines.
 *
 * Environment: REDIS_URL; BROKER_OPTIONS (JSON: commandTimeoutMs,
 * channelPrefix, …, and `ownSubscriber: true` to hand the broker a
 * subscriber client this script creates and connects itself).
 *
 * In:  {"id": 1, "op": "subscribe" | "unsubscribe", "topic": "t"}
 *      {"id": 2, "op": "publish", "topic": "t", "binary": false, "data": "<base64>"}
 *      {"id": 3, "op": "publishMany", "topic": "t", "texts": ["a", "b", …]}   (all at once, not awaiting each)
 *      {"id": 4, "op": "calls", "calls": [["subscribe", "t"], ["unsubscribe", "t"], …]}   (all at once, in order)
 *      {"id": 5, "op": "stats" | "clientReady" | "close" | "ping" | "exit"}
 * Out: {"event": "ready", "origin": "<hex>"} once, then replies
 *      {"id": 1, "ok": true, …} or {"id": 1, "ok": false, "error": {"name", "message"}}
 *      and events {"event": "message" | "gap" | "error", …}.
 */
import { createInterface } from 'node:readline';
import { createClient } from 'redis';
import { redisBroker, type BrokerConnectionError, type RedisBrokerOptions } from '../../src/brokers/redis.ts';

const url = process.env.REDIS_URL;
if (url === undefined) throw new Error('REDIS_URL is not set');
const { ownSubscriber, ...brokerOptions } = JSON.parse(process.env.BROKER_OPTIONS ?? '{}') as Partial<RedisBrokerOptions> & {
  ownSubscriber?: boolean;
};

const write = (line: object): void => {
  process.stdout.write(`${JSON.stringify(line)}\n`);
};
const describe = (error: unknown): { name: string; message: string } =>
  error instanceof Error ? { name: error.name, message: error.message } : { name: 'unknown', message: String(error) };

// Quick reconnection (the tests restart Redis); a client without an 'error' listener would crash the process.
const clientOptions = { url, socket: { reconnectStrategy: () => 100 } };
const client = createClient(clientOptions);
client.on('error', () => {});
await client.connect();
const subscriber = ownSubscriber ? createClient(clientOptions) : undefined;
if (subscriber !== undefined) {
  subscriber.on('error', () => {});
  await subscriber.connect();
}

const broker = redisBroker({ ...brokerOptions, client, ...(subscriber === undefined ? {} : { subscriber }) });
broker.attach({
  message: (message) => write({ event: 'message', topic: message.topic, binary: message.binary, data: message.payload.toString('base64') }),
  gap: (gap) => write({ event: 'gap', ...gap }),
  error: (error) => write({ event: 'error', ...describe(error), connection: (error as Partial<BrokerConnectionError>).event }),
});
write({ event: 'ready', origin: broker.origin });

interface Command {
  id: number;
  op: string;
  topic: string;
  binary?: boolean;
  data?: string;
  texts?: string[];
  calls?: ['subscribe' | 'unsubscribe', string][];
}

async function run(command: Command): Promise<object> {
  switch (command.op) {
    case 'subscribe':
      await broker.subscribe(command.topic);
      return {};
    case 'unsubscribe':
      await broker.unsubscribe(command.topic);
      return {};
    case 'publish':
      await broker.publish({ topic: command.topic, binary: command.binary ?? false, payload: Buffer.from(command.data ?? '', 'base64') });
      return {};
    case 'publishMany': {
      const results = await Promise.allSettled(
        (command.texts ?? []).map((text) => broker.publish({ topic: command.topic, binary: false, payload: Buffer.from(text) })),
      );
      return { failures: results.filter((r) => r.status === 'rejected').length };
    }
    case 'calls': {
      const results = await Promise.allSettled((command.calls ?? []).map(([op, topic]) => broker[op](topic)));
      return { results: results.map((r) => (r.status === 'fulfilled' ? 'ok' : describe(r.reason).name)) };
    }
    case 'stats':
      return { stats: broker.stats() };
    case 'clientReady':
      return { ready: client.isReady, subscriberOpen: subscriber?.isOpen };
    case 'close':
      await broker.close();
      return {
        clientOpen: client.isOpen,
        ...(subscriber === undefined ? {} : { subscriberOpen: subscriber.isOpen }),
      };
    case 'ping':
      return {};
    case 'exit':
      await broker.close();
      if (subscriber?.isOpen) subscriber.destroy();
      if (client.isOpen) client.destroy();
      setImmediate(() => process.exit(0));
      return {};
    default:
      throw new Error(`unknown op ${command.op}`);
  }
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line) as Command;
  const started = Date.now();
  run(command).then(
    (result) => write({ id: command.id, ok: true, ms: Date.now() - started, ...result }),
    (error: unknown) => write({ id: command.id, ok: false, ms: Date.now() - started, error: describe(error) }),
  );
});
process.stdin.on('end', () => process.exit(0));
