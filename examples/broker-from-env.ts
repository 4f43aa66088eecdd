/**
 * The examples' scale-out switch: with REDIS_URL set (say,
 * `redis://127.0.0.1:6379`), a Redis broker on a node-redis client, so that
 * several processes share topics; without it, `undefined` (topics stay in
 * this process). The `redis` package is loaded only then.
 */
import type { Broker } from 'ktor-ws-ts';
import { redisBroker } from 'ktor-ws-ts/redis';

export interface EnvBroker {
  readonly broker: Broker;
  /** Closes the broker and its Redis client (after the server closed). */
  close(): Promise<void>;
}

export async function brokerFromEnv(): Promise<EnvBroker | undefined> {
  const url = process.env.REDIS_URL;
  if (url === undefined || url === '') return undefined;
  const { createClient } = await import('redis');
  const client = createClient({ url });
  client.on('error', (error: Error) => console.error(`redis: ${error.message}`));
  await client.connect();
  const broker = redisBroker({ client });
  return {
    broker,
    async close() {
      await broker.close();
      await client.quit();
    },
  };
}
