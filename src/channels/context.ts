/**
 * Contexts and `launch`: where a task starts (a `Dispatcher`) and which job
 * it belongs to (the context's `job` becomes the parent of the task's job).
 *
 * JavaScript cannot move a running async function to another scheduler, so a
 * dispatcher decides where a block *starts*; after its first `await` the
 * engine's own promise scheduling continues it.
 */
import { CancellationError, toError } from './errors.ts';
import { TaskJob, type Job } from './job.ts';

/** Runs tasks: synchronously, as microtasks, as macrotasks, or however a host likes. */
export interface Dispatcher {
  /** Runs `task` once, now or later. `task` does not throw. */
  dispatch(task: () => void): void;
}

/** The built-in dispatchers. */
export const Dispatchers: {
  /** Runs the task synchronously, inside the caller (`launch` returns after the block's first await). */
  readonly Immediate: Dispatcher;
  /** Runs the task in a microtask: after the current synchronous code, before any I/O. */
  readonly Microtask: Dispatcher;
  /** Runs the task in a macrotask (`setImmediate`): after pending I/O callbacks. */
  readonly Macrotask: Dispatcher;
} = Object.freeze({
  Immediate: Object.freeze({ dispatch: (task: () => void) => task() }),
  Microtask: Object.freeze({ dispatch: (task: () => void) => queueMicrotask(task) }),
  Macrotask: Object.freeze({ dispatch: (task: () => void) => void setImmediate(task) }),
});

/** What a task runs in: its parent job (if any) and its dispatcher. */
export interface CoroutineContext {
  /** The job a task started in this context is a child of: cancelling it cancels the task. */
  readonly job?: Job;
  /** Where the task's steps run (see `Dispatchers`). */
  readonly dispatcher: Dispatcher;
}

/** Builds a context; the dispatcher defaults to `Dispatchers.Microtask`. */
export function createContext(
  parts: { readonly job?: Job | undefined; readonly dispatcher?: Dispatcher | undefined } = {},
): CoroutineContext {
  const dispatcher = parts.dispatcher ?? Dispatchers.Microtask;
  return Object.freeze(parts.job === undefined ? { dispatcher } : { job: parts.job, dispatcher });
}

/**
 * Starts `block` on `context.dispatcher` as a new child job of `context.job`
 * and returns that job at once. The job completes when the block returns (and
 * its children are done). A block that throws or rejects fails the job —
 * unless the error is a cancellation: a `CancellationError`, or, once the job
 * is cancelling, its cause or an `AbortError` (what APIs given `job.signal`
 * throw); then the job ends `cancelled`. A job cancelled before its block
 * started never runs it. No rejection escapes.
 */
export function launch(context: CoroutineContext, block: (job: Job) => Promise<void> | void): Job {
  const job = new LaunchedJob(context.job);
  try {
    context.dispatcher.dispatch(() => run(job, block));
  } catch (error) {
    job.fail(toError(error));
  }
  return job;
}

/** The job of a launched block: once cancelled, it still waits for the block to return. */
class LaunchedJob extends TaskJob {
  /**
   * Settles the job with its block's promise. The two reactions are the
   * prototype methods below bound to the job: two small bound functions per
   * task that capture nothing but the job (no closure over the block or its
   * context).
   */
  follow(result: Promise<void>): void {
    result.then(this.#returned.bind(this), this.#threw.bind(this));
  }

  #returned(): void {
    this.complete();
  }

  #threw(error: unknown): void {
    settle(this, error);
  }
}

function run(job: LaunchedJob, block: (job: Job) => Promise<void> | void): void {
  if (!job.isActive) {
    job.complete();
    return;
  }
  let result: Promise<void> | void;
  try {
    result = block(job);
  } catch (error) {
    settle(job, error);
    return;
  }
  if (result === undefined) job.complete();
  else job.follow(result);
}

function settle(job: Job, thrown: unknown): void {
  const error = toError(thrown);
  if (isCancellation(job, error)) {
    job.cancel(error);
    job.complete();
  } else {
    job.fail(error);
  }
}

function isCancellation(job: Job, error: Error): boolean {
  return (
    error instanceof CancellationError ||
    (job.isCancelled && (error === job.cause || error.name === 'AbortError'))
  );
}
