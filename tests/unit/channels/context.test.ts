import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Dispatchers, createContext, launch } from '../../../src/channels/context.ts';
import { CancellationError } from '../../../src/channels/errors.ts';
import { Job, SupervisorJob } from '../../../src/channels/job.ts';
import { isPending, turn } from '../../support/async.ts';

test('createContext defaults to the microtask dispatcher and no job', () => {
  const ctx = createContext();
  assert.is(ctx.dispatcher, Dispatchers.Microtask);
  assert.not.ok('job' in ctx);
  const job = new Job();
  const full = createContext({ job, dispatcher: Dispatchers.Macrotask });
  assert.is(full.job, job);
  assert.is(full.dispatcher, Dispatchers.Macrotask);
  assert.ok(Object.isFrozen(full));
});

test('dispatchers: immediate inside launch, microtask before macrotask', async () => {
  const order: string[] = [];
  const at = (dispatcher: (typeof Dispatchers)[keyof typeof Dispatchers], name: string) =>
    launch(createContext({ dispatcher }), () => void order.push(name));
  at(Dispatchers.Macrotask, 'macrotask');
  setTimeout(() => order.push('timeout'), 0);
  at(Dispatchers.Microtask, 'microtask');
  void Promise.resolve().then(() => order.push('promise'));
  at(Dispatchers.Immediate, 'immediate');
  order.push('sync');
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(order.slice(0, 4), ['immediate', 'sync', 'microtask', 'promise']);
  assert.ok(order.includes('macrotask') && order.includes('timeout'));
});

test('launch: a returning block completes the job, a child of the context job', async () => {
  const parent = new Job();
  let seen: Job | undefined;
  const job = launch(createContext({ job: parent }), async (self) => {
    seen = self;
    await turn();
  });
  assert.is(job.parent, parent);
  assert.equal(parent.children, [job]);
  assert.is(job.state, 'active');
  await job.join();
  assert.is(seen, job);
  assert.is(job.state, 'completed');
  parent.complete();
  assert.is(parent.state, 'completed');
});

test('launch: a synchronous or asynchronous throw fails the job and its parent', async () => {
  const syncError = new Error('sync');
  const asyncError = new Error('async');
  const a = launch(createContext({ dispatcher: Dispatchers.Immediate }), () => {
    throw syncError;
  });
  assert.is(a.state, 'failed');
  assert.is(a.cause, syncError);
  const parent = new Job();
  const sibling = launch(createContext({ job: parent }), (self) => new Promise<void>((resolve) => {
    self.signal.addEventListener('abort', () => resolve());
  }));
  const b = launch(createContext({ job: parent }), async () => {
    await turn();
    throw asyncError;
  });
  await parent.join();
  assert.is(b.state, 'failed');
  assert.is(parent.state, 'failed');
  assert.is(parent.cause, asyncError);
  assert.is(sibling.state, 'cancelled'); // its block returned once cancelled
});

test('launch: a cancelled job waits for its block, which ends it cancelled via the signal', async () => {
  let release!: () => void;
  const job = launch(createContext(), async (self) => {
    await new Promise<void>((resolve, reject) => {
      release = resolve;
      self.signal.addEventListener('abort', () => reject(self.signal.reason));
    });
  });
  await turn();
  job.cancel();
  assert.is(job.state, 'cancelling');
  await job.join();
  assert.is(job.state, 'cancelled');
  assert.instance(job.cause, CancellationError);
  release();
});

test('launch: an AbortError from an API given the signal counts as the cancellation', async () => {
  const { setTimeout: sleep } = await import('node:timers/promises');
  const job = launch(createContext(), async (self) => {
    await sleep(10_000, undefined, { signal: self.signal });
  });
  await turn();
  job.cancel();
  await job.join();
  assert.is(job.state, 'cancelled');
});

test('launch: a block that returns normally after cancel still ends cancelled', async () => {
  let finish!: () => void;
  const job = launch(createContext(), () => new Promise<void>((resolve) => (finish = resolve)));
  await turn();
  job.cancel();
  assert.is(job.state, 'cancelling');
  assert.ok(await isPending(job.join()));
  finish();
  await job.join();
  assert.is(job.state, 'cancelled');
});

test('launch: a CancellationError thrown by an active block ends it cancelled, not failed', async () => {
  const parent = new Job();
  const job = launch(createContext({ job: parent }), () => {
    throw new CancellationError('gave up');
  });
  await job.join();
  assert.is(job.state, 'cancelled');
  assert.is(parent.state, 'active');
});

test('launch: a different error thrown while cancelling fails the job', async () => {
  const cleanup = new Error('cleanup crashed');
  const job = launch(createContext(), async (self) => {
    await new Promise((resolve) => self.signal.addEventListener('abort', resolve));
    throw cleanup;
  });
  await turn();
  job.cancel();
  await job.join();
  assert.is(job.state, 'failed');
  assert.is(job.cause, cleanup);
});

test('launch: a job cancelled before its block starts never runs it', async () => {
  let ran = false;
  const parent = new Job();
  const job = launch(createContext({ job: parent }), () => {
    ran = true;
  });
  parent.cancel();
  await parent.join();
  assert.not.ok(ran);
  assert.is(job.state, 'cancelled');
  const late = launch(createContext({ job: parent }), () => {
    ran = true;
  });
  await late.join();
  assert.not.ok(ran);
});

test('launch: non-Error throws are wrapped; a throwing dispatcher fails the job', async () => {
  const job = launch(createContext(), () => Promise.reject('plain string'));
  await job.join();
  assert.is(job.state, 'failed');
  assert.is(job.cause?.cause, 'plain string');
  const broken = launch({ dispatcher: { dispatch: () => { throw new Error('no scheduler'); } } }, () => {});
  assert.is(broken.state, 'failed');
  assert.is(broken.cause?.message, 'no scheduler');
});

test('launch under a SupervisorJob: one failing task leaves the others running', async () => {
  const supervisor = new SupervisorJob();
  const ctx = createContext({ job: supervisor });
  const bad = launch(ctx, () => {
    throw new Error('one');
  });
  const good = launch(ctx, () => turn());
  await Promise.all([bad.join(), good.join()]);
  assert.is(bad.state, 'failed');
  assert.is(good.state, 'completed');
  assert.is(supervisor.state, 'active');
});

test.run();
