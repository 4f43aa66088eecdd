/**
 * One process of the broker-level Redis benchmark (bench/redis.bench.ts),
 * a Redis broker from the built package (`ktor-ws-ts/redis`) on its own
 * node-redis client, driven by JSON lines on stdin and answering on stdout:
 *
 *   node build/bench/servers/redis-peer.js subscriber|publisher REDIS_URL
 *
 * subscriber: a broker subscribed to topic `bench`. Each message carries the
 *   publisher's `process.hrtime` (CLOCK_MONOTONIC, shared by every process of
 *   the machine) and its index; the subscriber records the one-way latency,
 *   counts messages, and checks their order.
 *   {"op":"reset","count":N} → {"ok":true};  {"op":"report"} → counters and latency percentiles.
 * publisher: {"op":"run","size":S,"count":N,"inflight":K} publishes N
 *   binary messages of S bytes (S ≥ 12), K awaiting Redis's answer at any
 *   time → {"sent","failures","startNs"}.
 */
import { createInterface } from 'node:readline';
import { createClient } from 'redis';
import { redisBroker } from 'ktor-ws-ts/redis';

const [role = '', url = ''] = process.argv.slice(2);
const TOPIC = 'bench';
const client = createClient({ url });
client.on('error', (error: Error) => process.stderr.write(`redis client: ${error.message}\n`));
await client.connect();
const broker = redisBroker({ client });
const reply = (value: object): void => {
  process.stdout.write(`${JSON.stringify(value)}\n`);
};

// ---- subscriber ---------------------------------------------------------------

let latencies = new Float64Array(0);
let received = 0;
let outOfOrder = 0;
let gaps = 0;
let errors = 0;
let nextIndex = 0;
let lastNs = 0n;

broker.attach({
  message(message) {
    const now = process.hrtime.bigint();
    const sentNs = message.payload.readBigUInt64BE(0);
    const index = message.payload.readUInt32BE(8);
    if (index !== nextIndex) outOfOrder++;
    nextIndex = index + 1;
    if (received < latencies.length) latencies[received] = Number(now - sentNs) / 1000;
    received++;
    lastNs = now;
  },
  gap() {
    gaps++;
  },
  error(error) {
    errors++;
    process.stderr.write(`broker: ${error.message}\n`);
  },
});
if (role === 'subscriber') await broker.subscribe(TOPIC);

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

// ---- publisher ----------------------------------------------------------------

async function run(size: number, count: number, inflight: number): Promise<object> {
  let sent = 0;
  let failures = 0;
  let next = 0;
  const startNs = process.hrtime.bigint();
  const worker = async (): Promise<void> => {
    while (next < count) {
      const payload = Buffer.alloc(size);
      payload.writeBigUInt64BE(process.hrtime.bigint(), 0);
      payload.writeUInt32BE(next++, 8);
      try {
        await broker.publish({ topic: TOPIC, binary: true, payload });
        sent++;
      } catch {
        failures++;
      }
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
  return { sent, failures, startNs: String(startNs) };
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line) as { op: string; size?: number; count?: number; inflight?: number };
  if (command.op === 'reset') {
    latencies = new Float64Array(command.count ?? 0);
    received = outOfOrder = gaps = errors = nextIndex = 0;
    reply({ ok: true });
  } else if (command.op === 'report') {
    const sorted = latencies.slice(0, Math.min(received, latencies.length)).sort();
    reply({ received, outOfOrder, gaps, errors, lastNs: String(lastNs), p50Us: percentile(sorted, 0.5), p99Us: percentile(sorted, 0.99) });
  } else if (command.op === 'run') {
    run(command.size ?? 16, command.count ?? 0, command.inflight ?? 1).then(reply, (error: unknown) => reply({ error: String(error) }));
  }
});
process.stdin.on('end', () => {
  void broker.close().then(() => client.destroy());
});
