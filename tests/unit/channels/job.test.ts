import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CancellationError } from '../../../src/channels/errors.ts';
import { Job, SupervisorJob, TaskJob } from '../../../src/channels/job.ts';
import { captureUncaught, isPending } from '../../support/async.ts';

test('a new job is active; complete() without children completes it and join resolves', async () => {
  const job = new Job();
  assert.is(job.state, 'active');
  assert.ok(job.isActive);
  assert.not.ok(job.isCompleted);
  assert.not.ok(job.isCancelled);
  assert.is(job.parent, undefined);
  const joined = job.join();
  assert.ok(await isPending(joined));
  assert.is(job.complete(), true);
  assert.is(job.state, 'completed');
  assert.ok(job.isCompleted);
  assert.not.ok(job.isActive);
  assert.is(job.cause, undefined);
  assert.not.ok(job.signal.aborted);
  await joined;
  await job.join();
  assert.is(job.complete(), false);
  assert.is(job.fail(new Error('late')), false);
});

test('a parent completes only after its children: completing, then completed', async () => {
  const parent = new Job();
  const a = new Job(parent);
  const b = new Job(parent);
  assert.equal(parent.children, [a, b]);
  assert.is(a.parent, parent);
  assert.ok(parent.complete());
  assert.is(parent.state, 'completing');
  assert.ok(parent.isActive);
  a.complete();
  assert.equal(parent.children, [b]);
  assert.is(parent.state, 'completing');
  b.complete();
  assert.is(parent.state, 'completed');
  assert.equal(parent.children, []);
});

test('cancel(): cancelled with a CancellationError, signal aborted with it, idempotent', async () => {
  const job = new Job();
  const signal = job.signal;
  job.cancel();
  assert.is(job.state, 'cancelled');
  assert.ok(job.isCancelled);
  assert.ok(job.isCompleted);
  assert.instance(job.cause, CancellationError);
  assert.ok(signal.aborted);
  assert.is(signal.reason, job.cause);
  const first = job.cause;
  job.cancel(new Error('again'));
  assert.is(job.cause, first);
  await job.join();
});

test('a signal first read after cancellation is already aborted', () => {
  const cause = new Error('why');
  const job = new Job();
  job.cancel(cause);
  assert.ok(job.signal.aborted);
  assert.is(job.signal.reason, cause);
});

test('cancelling a parent cancels every descendant; the parent waits for them', async () => {
  const root = new Job();
  const child = new Job(root);
  const grandchild = new Job(child);
  const cause = new Error('shutdown');
  const seen: string[] = [];
  for (const [name, job] of [['root', root], ['child', child], ['grandchild', grandchild]] as const) {
    job.invokeOnCompletion(() => seen.push(name));
  }
  root.cancel(cause);
  for (const job of [root, child, grandchild]) {
    assert.is(job.state, 'cancelled');
    assert.is(job.cause, cause);
  }
  assert.equal(seen, ['grandchild', 'child', 'root']);
  await root.join();
});

test('a child\'s failure fails the parent with that cause and cancels the siblings', async () => {
  const root = new Job();
  const parent = new Job(root);
  const failing = new Job(parent);
  const sibling = new Job(parent);
  const nephew = new Job(new Job(parent));
  const cause = new Error('crash');
  assert.is(failing.fail(cause), true);
  assert.is(failing.state, 'failed');
  assert.is(sibling.state, 'cancelled');
  assert.is(sibling.cause, cause);
  assert.is(nephew.state, 'cancelled');
  assert.is(parent.state, 'failed');
  assert.is(parent.cause, cause);
  assert.is(root.state, 'failed');
  assert.is(root.cause, cause);
  await root.join();
});

test('a child that ends cancelled does not affect its parent', () => {
  const parent = new Job();
  const child = new Job(parent);
  const other = new Job(parent);
  child.cancel(new Error('not needed'));
  assert.is(child.state, 'cancelled');
  assert.is(parent.state, 'active');
  assert.is(other.state, 'active');
  parent.complete();
  other.complete();
  assert.is(parent.state, 'completed');
});

test('SupervisorJob: a child\'s failure stays local', () => {
  const supervisor = new SupervisorJob();
  const failing = new Job(supervisor);
  const sibling = new Job(supervisor);
  failing.fail(new Error('one request failed'));
  assert.is(failing.state, 'failed');
  assert.is(supervisor.state, 'active');
  assert.is(sibling.state, 'active');
  supervisor.cancel();
  assert.is(sibling.state, 'cancelled');
  assert.is(supervisor.state, 'cancelled');
});

test('a supervisor\'s own failure still reaches its parent', () => {
  const root = new Job();
  const supervisor = new SupervisorJob(root);
  const cause = new Error('supervisor broke');
  supervisor.fail(cause);
  assert.is(root.state, 'failed');
  assert.is(root.cause, cause);
});

test('the first failure wins', () => {
  const parent = new Job();
  const a = new Job(parent);
  const b = new Job(parent);
  const first = new Error('first');
  new Job(a).fail(first);
  assert.is(b.fail(new Error('second')), false);
  assert.is(b.state, 'cancelled');
  assert.is(parent.cause, first);
});

test('fail() on a completing job cancels its children and ends failed', () => {
  const parent = new Job();
  const child = new Job(parent);
  assert.ok(parent.complete());
  const cause = new Error('late failure');
  assert.is(parent.fail(cause), true);
  assert.is(child.state, 'cancelled');
  assert.is(parent.state, 'failed');
  assert.is(parent.cause, cause);
});

test('a child of a final parent is cancelled at once and not attached', () => {
  const done = new Job();
  done.complete();
  const late = new Job(done);
  assert.is(late.state, 'cancelled');
  assert.instance(late.cause, CancellationError);
  assert.equal(done.children, []);
  assert.is(done.state, 'completed');
});

test('invokeOnCompletion: runs once with the cause, at once when final, disposable', () => {
  const job = new Job();
  const seen: unknown[] = [];
  job.invokeOnCompletion((c) => seen.push(['a', c]));
  job.invokeOnCompletion((c) => seen.push(['b', c]))();
  const cause = new Error('stop');
  job.fail(cause);
  job.invokeOnCompletion((c) => seen.push(['c', c]));
  assert.equal(seen, [
    ['a', cause],
    ['c', cause],
  ]);
  const ok = new Job();
  ok.complete();
  ok.invokeOnCompletion((c) => seen.push(['d', c]));
  assert.equal(seen.at(-1), ['d', undefined]);
});

test('completion handlers: one, several and the same function twice; each disposer removes one registration', () => {
  const seen: string[] = [];
  const only = new Job();
  only.invokeOnCompletion(() => seen.push('only'))(); // the one handler, held without a list, removed again
  only.complete();
  assert.equal(seen, []);
  const job = new Job();
  const twice = (): number => seen.push('twice');
  job.invokeOnCompletion(() => seen.push('first'));
  const disposeTwice = job.invokeOnCompletion(twice);
  job.invokeOnCompletion(() => seen.push('third'));
  job.invokeOnCompletion(twice);
  disposeTwice();
  job.invokeOnCancellation(() => seen.push('cancelling'))();
  job.complete();
  assert.equal(seen, ['first', 'third', 'twice'], 'in the order added, less the one disposed');
  disposeTwice(); // after the end: nothing left to remove, nothing thrown
  // A disposer called twice takes out its own registration only, not another of the same function.
  const again = new Job();
  const seenAgain: string[] = [];
  const handler = (): number => seenAgain.push('ran');
  const disposeFirst = again.invokeOnCompletion(handler);
  again.invokeOnCompletion(handler);
  const disposeCancel = again.invokeOnCancellation(handler);
  again.invokeOnCancellation(handler);
  disposeFirst();
  disposeFirst();
  disposeCancel();
  disposeCancel();
  again.cancel();
  assert.equal(seenAgain, ['ran', 'ran'], 'one cancellation and one completion handler left');
});

test('onChildFinished: a parent hears of each child once it is final, before the child\'s own handlers, before it may finish itself', () => {
  const heard: string[] = [];
  class Books extends SupervisorJob {
    protected override onChildFinished(child: Job): void {
      heard.push(`${child.state} (parent ${this.state})`);
    }
  }
  const parent = new Books();
  const ok = new Job(parent);
  const bad = new Job(parent);
  ok.invokeOnCompletion(() => heard.push('own handler'));
  ok.complete();
  bad.fail(new Error('boom'));
  parent.complete();
  assert.equal(heard, ['completed (parent active)', 'own handler', 'failed (parent active)']);
  assert.is(parent.state, 'completed');
});

test('invokeOnCancellation: runs once as cancelling starts, also from a parent; never on normal completion', () => {
  const parent = new Job();
  const child = new Job(parent);
  const seen: unknown[] = [];
  child.invokeOnCancellation((c) => seen.push(['a', c]));
  child.invokeOnCancellation((c) => seen.push(['b', c]))();
  const cause = new Error('stop');
  parent.cancel(cause);
  assert.equal(seen, [['a', cause]], 'ran before the child completed, with the parent cause');
  assert.is(child.state, 'cancelled');
  child.invokeOnCancellation((c) => seen.push(['late', c]));
  assert.equal(seen.at(-1), ['late', cause], 'at once when already cancelled');
  const ok = new Job();
  let ran = false;
  ok.invokeOnCancellation(() => (ran = true));
  ok.complete();
  ok.cancel(new Error('too late'));
  ok.invokeOnCancellation(() => (ran = true));
  assert.is(ran, false);
});

test('a task that stops inside its onCancelling hook: cancellation handlers still run, before the completion handlers', () => {
  // A callback-driven task (a session) may end every part of its work synchronously when cancelled.
  class StopsAtOnce extends TaskJob {
    protected override onCancelling(): void {
      this.complete();
    }
  }
  const parent = new Job();
  const job = new StopsAtOnce(parent);
  const seen: string[] = [];
  job.invokeOnCancellation(() => seen.push('cancellation'));
  job.invokeOnCompletion(() => seen.push('completion'));
  const cause = new Error('stop');
  job.cancel(cause);
  assert.equal(seen, ['cancellation', 'completion']);
  assert.is(job.state, 'cancelled');
  assert.is(job.cause, cause);
  parent.complete();
  assert.is(parent.state, 'completed', 'the parent heard of the end');
});

test('a throwing completion handler is reported and the tree still completes', async () => {
  const parent = new Job();
  const child = new Job(parent);
  const bug = new Error('handler bug');
  let after = false;
  const caught = await captureUncaught(() => {
    child.invokeOnCompletion(() => {
      throw bug;
    });
    child.invokeOnCompletion(() => (after = true));
    parent.complete();
    child.complete();
  });
  assert.equal(caught, [bug]);
  assert.ok(after);
  assert.is(parent.state, 'completed');
});

test.run();
