/**
 * One run of the C load generator's `fanout` mode (see loadgen.c): SUBS
 * subscriber connections, then one publisher keeping INFLIGHT messages in
 * flight, a message being complete once every subscriber has it. Used by
 * bench/fanout.bench.ts (one server) and bench/redis.bench.ts (publisher and
 * subscribers on two servers sharing topics through Redis).
 */
import { LineReader, spawnPinned } from '../servers/spawn.ts';

export interface FanoutOptions {
  /** The publisher's server port and path. */
  readonly port: number;
  readonly pubPath: string;
  /** The subscribers' server port (default `port`) and path. */
  readonly subPort?: number;
  readonly subPath: string;
  readonly subscribers: number;
  readonly inflight: number;
  /** Message size in bytes (at least 8: the sequence number). */
  readonly size: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  /** The core to pin the load generator to (`undefined`: not pinned). */
  readonly cpu: number | undefined;
  /** Label of its stderr lines. */
  readonly name: string;
  /** Every subscriber is connected; the publisher starts once this resolves. */
  readonly subscribed?: () => Promise<void>;
  /** The measured window starts or ends (read the servers' CPU time here). */
  readonly window?: (edge: 'start' | 'end') => void;
  /** Called as the measured window starts: the window ends when this resolves, or after `measureMs`. */
  readonly until?: () => Promise<void>;
}

/** The load generator's JSON line (counts are of the measured window unless said otherwise). */
export interface FanoutResult {
  /** Messages that reached every subscriber. */
  readonly messages: number;
  /** Messages received by subscribers. */
  readonly deliveries: number;
  readonly bytes: number;
  readonly seconds: number;
  /** Publish-to-receipt latency of the deliveries. */
  readonly p50_us: number;
  readonly p99_us: number;
  /** The load generator's CPU use (1 = one core). */
  readonly cpu: number;
  readonly errors: number;
  /** Whole run: every message in flight arrived after the window; every connection closed cleanly. */
  readonly drained: boolean;
  readonly closed: boolean;
  readonly subscribers: number;
  /** Whole run: messages published. */
  readonly published: number;
  /** Whole run: published messages some subscriber did not get (a sum over subscribers). */
  readonly lost: number;
  /** Whole run: subscribers that got a message out of sequence (lost, repeated or reordered). */
  readonly out_of_sequence: number;
  /** Whole run: frames the publisher received (its own messages, when the server includes the sender). */
  readonly publisher_received: number;
}

/**
 * How far a run is from clean: messages some subscriber did not get, sequence
 * breaks, connection errors, a drain that did not finish, and (when the
 * server includes the sender) copies the publisher did not get back.
 */
export function damage(r: FanoutResult, senderIncluded: boolean): number {
  const ownCopies = senderIncluded ? r.published - r.publisher_received : 0;
  return r.lost + r.out_of_sequence + r.errors + (r.drained ? 0 : 1) + ownCopies;
}

/**
 * Runs the load generator at `loadgen` once and returns its result; it
 * throws only when no result came (a result with losses or errors is
 * returned: the caller judges it).
 */
export async function runFanout(loadgen: string, o: FanoutOptions): Promise<FanoutResult> {
  const argv = [loadgen, 'fanout', '127.0.0.1', String(o.port), String(o.subscribers), String(o.inflight), String(o.size)];
  argv.push(String(o.warmupMs), String(o.measureMs), o.pubPath, o.subPath);
  if (o.subPort !== undefined) argv.push(String(o.subPort));
  const child = spawnPinned(argv, o.cpu);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = new LineReader(child, o.name);
  child.stdin.on('error', () => {}); // a line for a load generator that has exited already
  let result: FanoutResult | undefined;
  let until: Promise<void> | undefined;
  try {
    for (let line = await lines.next(120_000); line !== undefined; line = await lines.next(120_000)) {
      if (line.startsWith('subscribed ')) {
        await o.subscribed?.();
        child.stdin.write('go\n');
      } else if (line === 'measure-start') {
        o.window?.('start');
        until = o.until?.().then(() => void child.stdin.write('stop\n'));
        until?.catch(() => child.kill('SIGKILL')); // the error is thrown below, once the child is gone
      } else if (line === 'measure-end') o.window?.('end');
      else if (line.startsWith('{')) result = JSON.parse(line) as FanoutResult;
    }
    await until;
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const code = await exited;
  if (result === undefined) throw new Error(`load generator (${o.name}) gave no result (exit ${code})`);
  return result;
}
