/**
 * Starts a raw session as three linked tasks under one job (Ktor's reader,
 * writer and handler coroutines): the reader and writer run in the engine
 * context, the handler in the user context. The returned job completes when
 * all three are done and the output is closed; it fails with the handler's
 * error if the handler throws, and cancelling it (or the engine context's job,
 * or the user context's job) sends 1001 and stops every task.
 *
 * The three tasks share the session's one job (a `TaskJob` whose own work is
 * the three of them) rather than a job each: an idle connection then holds
 * one job object, no parent-child set and no completion handlers.
 */
import type { ByteReadChannel, ByteWriteChannel } from '../channels/byte-channel-types.ts';
import type { CoroutineContext } from '../channels/context.ts';
import { TaskJob, type Job } from '../channels/job.ts';
import { RawWebSocketSession, type RawSessionConfig } from './raw-session.ts';

/** The user's code for one connection; it runs until it returns or throws. */
export type SessionHandler = (session: RawWebSocketSession) => Promise<void> | void;

/** The job of one session: cancelling it starts the session's own shutdown (close 1001). */
class SessionJob extends TaskJob {
  session: RawWebSocketSession | undefined;

  protected override onCancelling(): void {
    this.session?.onCancel();
  }
}

/**
 * Starts a raw session over `input` (bytes from the peer) and `output`
 * (bytes to it): the reader and writer in `engineContext`, `handle` in
 * `userContext`. Returns the job that links the three (see this module's
 * header); `WebSocketUpgrade.upgrade` calls it after the handshake.
 */
export function runSession(
  input: ByteReadChannel,
  output: ByteWriteChannel,
  engineContext: CoroutineContext,
  userContext: CoroutineContext,
  config: RawSessionConfig,
  handle: SessionHandler,
): Job {
  const job = new SessionJob(engineContext.job);
  const session = new RawWebSocketSession(input, output, { job, dispatcher: engineContext.dispatcher }, config);
  job.session = session;
  // A parent cancelled already cancelled the job as it was made, before it knew its session.
  if (job.isCancelled) session.onCancel();
  const userJob = userContext.job;
  if (userJob !== undefined && userJob !== engineContext.job) {
    const stopFollowing = userJob.invokeOnCancellation((cause) => job.cancel(cause));
    job.invokeOnCompletion(stopFollowing);
  }
  // The handler first: a default session it makes can then take the frames
  // straight from the reader (see `divertIncoming`), even those that came
  // with the request.
  userContext.dispatcher.dispatch(() => runHandler(session, handle));
  session.startTasks();
  return job;
}

/**
 * Runs the handler and reports its end to the session (not an async
 * function: an idle connection keeps no suspended frame here, only the one
 * reaction to the handler's promise).
 */
function runHandler(session: RawWebSocketSession, handle: SessionHandler): void {
  let result: Promise<void> | void;
  try {
    result = session.job.isActive ? handle(session) : undefined;
  } catch (error) {
    return session.handlerEnded(asFailure(error));
  }
  if (result === undefined) return session.handlerEnded(undefined);
  Promise.resolve(result).then(
    () => session.handlerEnded(undefined),
    (error: unknown) => session.handlerEnded(asFailure(error)),
  );
}

function asFailure(error: unknown): Error {
  return error instanceof Error ? error : new Error(`handler threw ${String(error)}`, { cause: error });
}
