/**
 * Properties of the channel runtime.
 *
 * 1. Byte channels: for any capacity, any sequence of write sizes (sync or
 *    async, flushed or not) and any sequence of read requests, running writer
 *    and reader concurrently with random yields, the reader sees exactly the
 *    bytes written in order, reads past the end fail as documented, and the
 *    buffered count never exceeds max(capacity, largest chunk written).
 * 2. Message channels with a weight budget: for any capacity, budget and
 *    sequence of element weights, sent with `trySend` or `send` by several
 *    senders while a receiver takes them with random yields (and maybe closes
 *    the channel early, with senders still waiting: they must all end before
 *    it receives again), every element whose send succeeded arrives once, each sender's in its order, none other arrives,
 *    and the buffered count and weight never exceed the capacity and
 *    max(budget, heaviest element) — except that a close adds the elements
 *    of the senders waiting at that moment (it releases them), so from then
 *    on the bounds are raised by those elements' count and weight.
 * 3. Jobs: for random trees of jobs, supervisors and launched tasks and random
 *    cancel/fail/complete events, every job ends, every join() resolves, and
 *    the end states obey the rules (checked rule by rule, not by a second
 *    implementation).
 *
 * Runs: FUZZ_RUNS (default 100000; the test runner sets it small).
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ByteChannel } from '../src/channels/byte-channel.ts';
import { Channel } from '../src/channels/channel.ts';
import { Dispatchers, createContext, launch } from '../src/channels/context.ts';
import { ChannelClosedError, EndOfStreamError } from '../src/channels/errors.ts';
import { Job, SupervisorJob } from '../src/channels/job.ts';

const runs = Number(process.env.FUZZ_RUNS ?? 100_000);

/** The byte at stream position `pos`: position-dependent, so reordering shows. */
const byteAt = (pos: number): number => (Math.imul(pos + 1, 2654435761) >>> 24) & 0xff;

function expected(from: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = byteAt(from + i);
  return out;
}

async function yieldTimes(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await Promise.resolve();
}

type ReadOp =
  | { readonly kind: 'chunk' | 'sync' | 'available' | 'fully' | 'discard' | 'await'; readonly n: number; readonly yields: number }
  | { readonly kind: 'byte' | 'short' | 'int' | 'long'; readonly yields: number };

const yieldsArb = fc.integer({ min: 0, max: 3 });
const readOpArb: fc.Arbitrary<ReadOp> = fc.oneof(
  fc.record({ kind: fc.constantFrom('chunk', 'sync', 'available', 'await'), n: fc.integer({ min: 1, max: 80 }), yields: yieldsArb }),
  fc.record({ kind: fc.constantFrom('fully', 'discard'), n: fc.integer({ min: 0, max: 200 }), yields: yieldsArb }),
  fc.record({ kind: fc.constantFrom('byte', 'short', 'int', 'long'), yields: yieldsArb }),
);
const writeArb = fc.record({
  size: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 150 })),
  sync: fc.boolean(),
  flush: fc.boolean(),
  yields: yieldsArb,
});
const SCALAR_SIZE = { byte: 1, short: 2, int: 4, long: 8 } as const;

test('byte channel: the reader sees exactly the bytes written, within the capacity rule', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 64 }),
      fc.boolean(),
      fc.array(writeArb, { maxLength: 30 }),
      fc.array(readOpArb, { maxLength: 30 }),
      async (capacity, autoFlush, writes, reads) => {
        const ch = new ByteChannel(capacity);
        ch.autoFlush = autoFlush;
        const total = writes.reduce((sum, w) => sum + w.size, 0);
        let largest = 0;
        const checkBound = (): void => {
          const bound = Math.max(capacity, largest);
          if (ch.availableForRead > bound) throw new Error(`buffered ${ch.availableForRead} > ${bound}`);
        };

        const writer = async (): Promise<void> => {
          let offset = 0;
          for (const w of writes) {
            await yieldTimes(w.yields);
            const chunk = expected(offset, w.size);
            offset += w.size;
            largest = Math.max(largest, w.size);
            if (!(w.sync && ch.tryWriteFully(chunk))) await ch.writeFully(chunk);
            checkBound();
            if (w.flush) ch.flush();
          }
          ch.close();
        };

        let pos = 0;
        const check = (buf: Uint8Array): void => {
          for (const b of buf) {
            if (b !== byteAt(pos)) throw new Error(`byte ${pos}: got ${b}, wanted ${byteAt(pos)}`);
            pos++;
          }
        };
        /** Runs a read that needs `n` bytes: it succeeds iff that many remain, else EndOfStreamError. */
        const exact = async <R>(n: number, read: () => Promise<R>, use: (r: R) => void): Promise<boolean> => {
          const remaining = total - pos;
          try {
            use(await read());
          } catch (error) {
            if (!(error instanceof EndOfStreamError) || n <= remaining) throw error;
            assert.is(error.wanted, n);
            assert.is(error.available, remaining);
            pos = total;
            return false;
          }
          if (n > remaining) throw new Error(`read of ${n} succeeded with ${remaining} left`);
          return true;
        };

        const reader = async (): Promise<void> => {
          for (const op of reads) {
            await yieldTimes(op.yields);
            checkBound();
            switch (op.kind) {
              case 'chunk': {
                const chunk = await ch.readChunk(op.n);
                if (chunk === null) assert.is(pos, total);
                else {
                  assert.ok(chunk.length >= 1 && chunk.length <= op.n);
                  check(chunk);
                }
                break;
              }
              case 'sync': {
                const chunk = ch.tryReadChunk(op.n);
                if (chunk !== undefined) {
                  assert.ok(chunk.length >= 1 && chunk.length <= op.n);
                  check(chunk);
                }
                break;
              }
              case 'available': {
                const dst = Buffer.alloc(op.n);
                const n = await ch.readAvailable(dst);
                if (n === -1) assert.is(pos, total);
                else {
                  assert.ok(n >= 1 && n <= op.n);
                  check(dst.subarray(0, n));
                }
                break;
              }
              case 'await': {
                const min = Math.min(op.n, capacity);
                if (await ch.awaitContent(min)) assert.ok(ch.availableForRead >= min);
                else assert.ok(ch.isClosedForWrite && total - pos < min);
                break;
              }
              case 'discard': {
                const skipped = await ch.discard(op.n);
                assert.is(skipped, Math.min(op.n, total - pos));
                pos += skipped;
                break;
              }
              case 'fully':
                if (!(await exact(op.n, () => ch.readFully(op.n), check))) return;
                break;
              default: {
                const size = SCALAR_SIZE[op.kind];
                const read =
                  op.kind === 'long'
                    ? () => ch.readLong().then((v) => v.toString(16).padStart(16, '0'))
                    : () =>
                        (op.kind === 'byte' ? ch.readByte() : op.kind === 'short' ? ch.readShort() : ch.readInt()).then((v) =>
                          v.toString(16).padStart(size * 2, '0'),
                        );
                const use = (hex: string): void => check(Buffer.from(hex, 'hex'));
                if (!(await exact(size, read, use))) return;
              }
            }
          }
          for (let chunk = await ch.readChunk(); chunk !== null; chunk = await ch.readChunk()) {
            checkBound();
            check(chunk);
          }
        };

        await Promise.all([writer(), reader()]);
        assert.is(pos, total);
        assert.ok(ch.isClosedForRead);
      },
    ),
    { numRuns: runs },
  );
});

type Kind = 'job' | 'supervisor' | 'task';
type Action = 'cancel' | 'fail' | 'complete';
interface Node {
  readonly kind: Kind;
  /** Index of the parent among earlier nodes, or -1 for a root. */
  readonly parent: number;
  /** How a task's block ends when released: return, throw an error, or throw a cancellation. */
  readonly outcome: 'return' | 'throw';
}

const treeArb = fc.integer({ min: 1, max: 10 }).chain((n) =>
  fc.tuple(
    fc.tuple(
      ...Array.from({ length: n }, (_, i) =>
        fc.record({
          kind: fc.constantFrom<Kind>('job', 'supervisor', 'task'),
          parent: fc.integer({ min: -1, max: i - 1 }),
          outcome: fc.constantFrom<'return' | 'throw'>('return', 'throw'),
        }),
      ),
    ),
    fc.array(fc.record({ target: fc.nat({ max: n - 1 }), action: fc.constantFrom<Action>('cancel', 'fail', 'complete') }), {
      maxLength: 12,
    }),
  ),
);


test('message channel with a weight budget: every element once, in order per sender, within capacity and budget', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 40 }),
      fc.array(fc.array(fc.record({ weight: fc.integer({ min: 0, max: 60 }), sync: fc.boolean(), yields: yieldsArb }), { maxLength: 15 }), { minLength: 1, maxLength: 3 }),
      fc.array(yieldsArb, { maxLength: 60 }),
      fc.option(fc.nat({ max: 30 })),
      async (capacity, maxWeight, senders, receiverYields, closeAfter) => {
        interface Item { readonly sender: number; readonly seq: number; readonly weight: number }
        const ch = new Channel<Item>(capacity, { maxWeight, weigh: (item) => item.weight });
        let heaviest = 0;
        /** Items handed to `send`/`trySend` whose call has not returned yet (a superset of the parked ones). */
        const inFlight = new Set<Item>();
        /** What a close legitimately adds beyond the bounds: the elements of the senders it released. */
        let slackCount = 0;
        let slackWeight = 0;
        const checkBounds = (): void => {
          if (ch.size > capacity + slackCount) throw new Error(`size ${ch.size} > capacity ${capacity} + ${slackCount}`);
          const bound = Math.max(maxWeight, heaviest) + slackWeight;
          if (ch.bufferedWeight > bound) throw new Error(`weight ${ch.bufferedWeight} > ${bound}`);
        };
        const accepted = new Array<number>(senders.length).fill(0);
        let closedEarly = false;
        const send = async (sender: number): Promise<void> => {
          for (const [seq, op] of (senders[sender] ?? []).entries()) {
            await yieldTimes(op.yields);
            const item = { sender, seq, weight: op.weight };
            heaviest = Math.max(heaviest, op.weight);
            inFlight.add(item);
            try {
              if (!(op.sync && ch.trySend(item))) await ch.send(item);
            } catch (error) {
              // Only a send issued after the receiver's close may fail; the sender then stops.
              if (closedEarly && error instanceof ChannelClosedError) return;
              throw error;
            } finally {
              inFlight.delete(item);
            }
            accepted[sender]!++;
            checkBounds();
          }
        };
        // A sender's failure cancels the channel (so the receiver stops) and is rethrown by `await all`.
        const all = Promise.all(senders.map((_, i) => send(i))).then(
          () => ch.close(),
          (error: Error) => {
            ch.cancel(error);
            throw error;
          },
        );
        all.catch(() => {});
        const next = new Array<number>(senders.length).fill(0);
        let received = 0;
        for (let i = 0; ; i++) {
          if (received === closeAfter && !ch.isClosedForSend) {
            closedEarly = true;
            for (const item of inFlight) {
              slackCount++;
              slackWeight += item.weight;
            }
            ch.close();
            // The close released every waiting sender: they all end without anything being received.
            const settled = await Promise.race([all.then(() => true), new Promise((resolve) => setImmediate(resolve, false))]);
            assert.ok(settled, 'a sender was still waiting after the close');
          }
          await yieldTimes(receiverYields[i % Math.max(1, receiverYields.length)] ?? 0);
          checkBounds();
          const item = ch.tryReceive() ?? (ch.isClosedForReceive ? undefined : await ch.receive().catch(() => undefined));
          if (item === undefined) break;
          assert.is(item.seq, next[item.sender], `sender ${item.sender}'s elements in order`);
          next[item.sender]!++;
          received++;
        }
        await all;
        assert.equal(next, accepted, 'exactly the elements whose send succeeded arrived');
        if (!closedEarly) assert.is(received, senders.reduce((sum, list) => sum + list.length, 0));
        assert.is(ch.bufferedWeight, 0);
      },
    ),
    { numRuns: Math.max(1, Math.floor(runs / 4)) },
  );
});
test('job trees: every job ends as the rules dictate and every join resolves', async () => {
  await fc.assert(
    fc.asyncProperty(treeArb, async ([nodes, events]) => {
      let clock = 0;
      const aborted: number[] = [];
      const finished: number[] = [];
      const failRequested: boolean[] = [];
      const releases: (() => void)[] = [];
      const jobs: Job[] = [];

      nodes.forEach((node, i) => {
        const parent = node.parent >= 0 ? jobs[node.parent] : undefined;
        let job: Job;
        if (node.kind === 'task') {
          const ctx = createContext({ job: parent, dispatcher: Dispatchers.Immediate });
          job = launch(ctx, () => new Promise<void>((resolve, reject) => {
            releases[i] = () => {
              if (node.outcome === 'return') resolve();
              else {
                if (!jobs[i]?.isCompleted) failRequested[i] = true;
                reject(new Error(`task ${i} crashed`));
              }
            };
          }));
        } else {
          job = node.kind === 'supervisor' ? new SupervisorJob(parent) : new Job(parent);
        }
        jobs.push(job);
        job.signal.addEventListener('abort', () => (aborted[i] = ++clock));
        if (job.isCancelled) aborted[i] = ++clock;
        job.invokeOnCompletion(() => (finished[i] = ++clock));
      });
      const joins = jobs.map((job) => job.join());

      for (const { target, action } of events) {
        const job = jobs[target] as Job;
        if (action === 'cancel') job.cancel();
        else if (action === 'fail') {
          if (!job.isCompleted) failRequested[target] = true;
          job.fail(new Error(`job ${target} failed`));
        } else if (nodes[target]?.kind === 'task') releases[target]?.();
        else job.complete();
        await Promise.resolve();
      }
      // Let every remaining piece of work end: release blocks, complete bare jobs (leaves first).
      for (let i = jobs.length - 1; i >= 0; i--) {
        if (nodes[i]?.kind === 'task') releases[i]?.();
        else jobs[i]?.complete();
        await Promise.resolve();
      }
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));

      jobs.forEach((job, i) => {
        const node = nodes[i] as Node;
        assert.ok(job.isCompleted, `job ${i} (${node.kind}) ended in ${job.state}`);
        const end = finished[i] as number;
        // completed ⇔ never cancelled; a final cause exactly when not completed
        assert.is(job.state === 'completed', aborted[i] === undefined, `job ${i} ${job.state}`);
        assert.is(job.cause === undefined, job.state === 'completed');
        const children = nodes.flatMap((n, c) => (n.parent === i ? [c] : []));
        for (const c of children) {
          const child = jobs[c] as Job;
          // a parent finishes after its children
          assert.ok((finished[c] as number) < end, `job ${i} finished before child ${c}`);
          // cancelling a parent cancels every child that had not finished
          const parentAbort = aborted[i];
          if (parentAbort !== undefined && (finished[c] as number) > parentAbort) {
            assert.ok(aborted[c] !== undefined, `parent ${i} cancelled, child ${c} was not`);
          }
          // a failed child fails a non-supervisor parent
          if (child.state === 'failed' && node.kind !== 'supervisor') assert.is(job.state, 'failed', `child ${c} failed, parent ${i} ${job.state}`);
        }
        if (job.state === 'failed') {
          const fromChild = node.kind !== 'supervisor' && children.some((c) => jobs[c]?.state === 'failed' && jobs[c]?.cause === job.cause);
          assert.ok(failRequested[i] === true || fromChild, `job ${i} failed without a cause of its own or from a child`);
        }
      });
      const pending = Symbol('pending');
      const settled = await Promise.race([Promise.all(joins), new Promise((resolve) => setImmediate(resolve, pending))]);
      assert.ok(settled !== pending, 'a join() did not resolve');
    }),
    { numRuns: Math.ceil(runs / 4) },
  );
});

test.run();
