/**
 * `Job` and `SupervisorJob`: the lifecycle of a unit of work and the tree of
 * structured concurrency, after Kotlin's `Job`.
 *
 *     active ──complete()──▶ completing ──children done──▶ completed
 *       │                        │
 *       └──cancel()/fail()───────┴──▶ cancelling ──own work and children done──▶ cancelled | failed
 *
 * Rules:
 * - A job finishes only after every child reached a final state.
 * - Cancelling a job (or its failure) cancels every child, hence every descendant.
 * - A child that fails (`fail`, a crashing `launch` block) makes its parent
 *   fail with the same cause, which cancels the parent's other children; the
 *   first failure's cause wins. A child that ends `cancelled` does not affect
 *   its parent. A `SupervisorJob` keeps its children's failures local.
 * - A failure while cancelling (a cleanup that crashed) turns the end state
 *   from `cancelled` into `failed`, like Kotlin's first non-cancellation cause.
 * - "Own work": a `new Job()` has none of its own; once cancelled it ends as
 *   soon as its children have. A job made by `launch` also waits for its block
 *   to return before it ends (`complete()` reports that).
 *
 * Completion handlers and `signal` abort listeners run synchronously at the
 * transition. A completion handler that throws never disturbs the machinery:
 * its error is reported as an uncaught exception (see `report.ts`).
 */
import { CancellationError } from './errors.ts';
import { callEach, callHandler } from './report.ts';
import { addCallback, once, removeCallback, type Callbacks } from './small-list.ts';

/** The lifecycle states. `completed`, `cancelled` and `failed` are final. */
export type JobState = 'active' | 'completing' | 'cancelling' | 'completed' | 'cancelled' | 'failed';

/** Called once with the job's final cause: `undefined` when completed. */
export type CompletionHandler = (cause: Error | undefined) => void;

const RESOLVED: Promise<void> = Promise.resolve();

/** A cancellable unit of work with a parent and children. */
export class Job {
  /** The parent given at construction, if any. */
  readonly parent: Job | undefined;

  private current: JobState = 'active';
  private reason: Error | undefined;
  /** While cancelling: the end state will be `failed` rather than `cancelled`. */
  private failing = false;
  /** The job's own work reported done (`complete`/`fail`, or cancelled without a body). */
  private ownWorkDone = false;
  /** Children not yet in a final state; the set is made on the first child (most jobs never have one). */
  private pending: Set<Job> | undefined;
  private handlers: Callbacks<CompletionHandler>;
  private controller: AbortController | undefined;
  /** Handlers waiting for the job to start cancelling (created by the first one). */
  private cancelHandlers: Callbacks<(cause: Error) => void>;
  private joined: Promise<void> | undefined;
  private resolveJoin: (() => void) | undefined;
  /** Set while `startCancelling` runs: the job finishes only once its hook and handlers have all run. */
  private startingCancel = false;

  /**
   * @param parent the job this one is a child of. A child of a final parent is
   *   cancelled at once; a child of a cancelling parent is cancelled with its cause.
   */
  constructor(parent?: Job) {
    this.parent = parent;
    parent?.attach(this);
  }

  /** Where the job is in its life (see `JobState`): active, completing (waiting for its children), cancelling, or final. */
  get state(): JobState {
    return this.current;
  }

  /** True while `active` or `completing` (not cancelled, not final). */
  get isActive(): boolean {
    return this.current === 'active' || this.current === 'completing';
  }

  /** True in any final state: `completed`, `cancelled` or `failed`. */
  get isCompleted(): boolean {
    return this.current === 'completed' || this.current === 'cancelled' || this.current === 'failed';
  }

  /** True once cancellation or failure started: `cancelling`, `cancelled` or `failed`. */
  get isCancelled(): boolean {
    return this.current === 'cancelling' || this.current === 'cancelled' || this.current === 'failed';
  }

  /** Why the job is cancelling or ended cancelled/failed; `undefined` otherwise. */
  get cause(): Error | undefined {
    return this.reason;
  }

  /**
   * Aborted, with `cause` as its reason, when the job starts cancelling or
   * failing; pass it to APIs that take an `AbortSignal`. Never aborted by a
   * normal completion.
   */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.isCancelled) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  /** The children that have not reached a final state yet (a snapshot). */
  get children(): readonly Job[] {
    return this.pending === undefined ? [] : [...this.pending];
  }

  /** Resolves (never rejects) once the job is in a final state. */
  join(): Promise<void> {
    if (this.isCompleted) return RESOLVED;
    return (this.joined ??= new Promise<void>((resolve) => {
      this.resolveJoin = resolve;
    }));
  }

  /**
   * Starts cancelling with `cause` (a `CancellationError` when omitted): aborts
   * `signal`, cancels every child. The job ends `cancelled` once its own work
   * and its children are done. A no-op unless active or completing.
   */
  cancel(cause?: Error): void {
    if (!this.isActive) return;
    this.startCancelling(cause ?? new CancellationError('job was cancelled'), false);
  }

  /**
   * Reports that the job's own work is done. An active job becomes
   * `completing` (or `completed` at once without pending children) and this
   * returns true. On a cancelling job it only records that its own work
   * stopped (it still ends `cancelled` or `failed`) and returns false, as it
   * does on a job already completing or final.
   */
  complete(): boolean {
    if (this.current === 'active') {
      this.ownWorkDone = true;
      this.current = 'completing';
      this.tryFinish();
      return true;
    }
    if (this.current === 'cancelling' && !this.ownWorkDone) {
      this.ownWorkDone = true;
      this.tryFinish();
    }
    return false;
  }

  /**
   * Reports that the job's own work failed with `cause`: the job cancels its
   * children, makes its parent fail (unless the parent is a supervisor) and
   * ends `failed` once its children are done. Returns true if this failure
   * decides the outcome; false on a job already final or already failing.
   */
  fail(cause: Error): boolean {
    if (this.isActive) {
      this.ownWorkDone = true;
      this.startCancelling(cause, true);
      return true;
    }
    if (this.current !== 'cancelling') return false;
    this.ownWorkDone = true;
    const decides = !this.failing;
    if (decides) this.markFailing(cause);
    this.tryFinish();
    return decides;
  }

  /**
   * Runs `handler` once, with the cause, as soon as the job starts cancelling
   * (cancelled, failed, or cancelled by its parent) — at once if it already
   * is; never if the job completes normally. Lighter than listening to
   * `signal` (no `AbortController` per job). Returns a disposer that
   * unregisters it.
   */
  invokeOnCancellation(handler: (cause: Error) => void): () => void {
    if (this.isCancelled) {
      callHandler(handler, this.reason as Error);
      return () => {};
    }
    if (this.isCompleted) return () => {};
    this.cancelHandlers = addCallback(this.cancelHandlers, handler);
    return once(() => {
      this.cancelHandlers = removeCallback(this.cancelHandlers, handler);
    });
  }

  /**
   * Runs `handler` once, with the final cause, when the job reaches a final
   * state — at once (synchronously) if it already has. Returns a disposer that
   * unregisters it.
   */
  invokeOnCompletion(handler: CompletionHandler): () => void {
    if (this.isCompleted) {
      callHandler(handler, this.reason);
      return () => {};
    }
    this.handlers = addCallback(this.handlers, handler);
    return once(() => {
      this.handlers = removeCallback(this.handlers, handler);
    });
  }

  /**
   * Called once when the job starts cancelling (cancelled, failed, or
   * cancelled by its parent), before the `invokeOnCancellation` handlers: a
   * subclass's hook that costs no handler object.
   */
  protected onCancelling(_cause: Error): void {}

  /** Whether a job of this class waits for a block of its own after being cancelled. */
  protected get hasBody(): boolean {
    return false;
  }

  /** A child's failure reached this job; a supervisor overrides this to ignore it. */
  protected onChildFailed(cause: Error): void {
    if (this.isActive) this.startCancelling(cause, true);
    else if (this.current === 'cancelling' && !this.failing) this.markFailing(cause);
  }

  /**
   * A child reached its final state: called before the child's own
   * completion handlers run (so that a parent that keeps books on its
   * children has them right by then, with no completion handler per child),
   * and before this job may finish. What it throws is reported as a handler's.
   */
  protected onChildFinished(_child: Job): void {}

  private attach(child: Job): void {
    if (this.isCompleted) {
      child.cancel(new CancellationError(`parent job has already ${this.current}`));
      return;
    }
    (this.pending ??= new Set()).add(child);
    if (this.current === 'cancelling') child.cancel(this.reason);
  }

  private startCancelling(cause: Error, failing: boolean): void {
    this.current = 'cancelling';
    this.reason = cause;
    if (!this.hasBody) this.ownWorkDone = true;
    // The parent hears of a failure before any child can finish and report to it.
    if (failing) this.markFailing(cause);
    this.controller?.abort(cause);
    // The hook may end the job's own work at once (a callback-driven task that stops synchronously):
    // the job still finishes only after every cancellation handler ran.
    this.startingCancel = true;
    callHandler((reason: Error) => this.onCancelling(reason), cause);
    const cancelHandlers = this.cancelHandlers;
    this.cancelHandlers = undefined;
    callEach(cancelHandlers, cause);
    if (this.pending !== undefined) for (const child of [...this.pending]) child.cancel(cause);
    this.startingCancel = false;
    this.tryFinish();
  }

  private markFailing(cause: Error): void {
    this.failing = true;
    this.reason = cause;
    this.parent?.onChildFailed(cause);
  }

  private childFinished(child: Job): void {
    this.pending?.delete(child);
    this.tryFinish();
  }

  private tryFinish(): void {
    if (this.startingCancel || (this.pending !== undefined && this.pending.size !== 0)) return;
    if (this.current === 'completing') this.finish('completed');
    else if (this.current === 'cancelling' && this.ownWorkDone) this.finish(this.failing ? 'failed' : 'cancelled');
  }

  private finish(state: 'completed' | 'cancelled' | 'failed'): void {
    this.current = state;
    this.cancelHandlers = undefined;
    const parent = this.parent;
    if (parent !== undefined) callHandler((child: Job) => parent.onChildFinished(child), this);
    const handlers = this.handlers;
    this.handlers = undefined;
    callEach(handlers, this.reason);
    this.resolveJoin?.();
    this.resolveJoin = undefined;
    this.parent?.childFinished(this);
  }
}

/**
 * The job of a task whose body reports its own end with `complete()` or
 * `fail()`: a block started by `launch`, or a callback-driven task (a state
 * machine that parks as a listener instead of an async function). Once
 * cancelled it still ends only when its body says it stopped, so a parent
 * never finishes while the task is still running.
 */
export class TaskJob extends Job {
  protected override get hasBody(): boolean {
    return true;
  }
}

/** A job whose children's failures stay local: they neither fail it nor cancel their siblings. */
export class SupervisorJob extends Job {
  protected override onChildFailed(): void {}
}
