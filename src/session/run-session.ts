/**
 * Starts a raw session as three linked tasks under one job (Ktor's reader,
 * writer and handler coroutines): the reader and writer run in the engine
 * context, the handler in the user context. The returned job completes when
 * all three are done and the output is closed; it fails with the handler's
 * error if the handler throws, and cancelling it (or the engine context's job,
 * or the user context's job) sends 1001 and stops every task.
 */
import type { ByteReadChannel, ByteWriteChannel } from '../channels/byte-channel-types.ts';
import { launch, type CoroutineContext } from '../channels/context.ts';
import { Job } from '../channels/job.ts';
import { RawWebSocketSession, type RawSessionConfig } from './raw-session.ts';

/** The user's code for one connection; it runs until it returns or throws. */
export type SessionHandler = (session: RawWebSocketSession) => Promise<void> | void;

export function runSession(
  input: ByteReadChannel,
  output: ByteWriteChannel,
  engineContext: CoroutineContext,
  userContext: CoroutineContext,
  config: RawSessionConfig,
  handle: SessionHandler,
): Job {
  const job = new Job(engineContext.job);
  const engine = { job, dispatcher: engineContext.dispatcher };
  const session = new RawWebSocketSession(input, output, engine, config);

  job.invokeOnCancellation(() => session.onCancel());
  const userJob = userContext.job;
  const stopFollowingUser =
    userJob === undefined || userJob === engineContext.job ? undefined : userJob.invokeOnCancellation((cause) => job.cancel(cause));
  job.invokeOnCompletion(() => {
    stopFollowingUser?.();
    // Nothing reads any more: the connection goes once the output is flushed.
    input.cancel();
    session.onFinished();
    for (const extension of session.extensions) extension.dispose();
  });

  // The handler first: a default session it makes can then take the frames
  // straight from the reader (see `divertIncoming`), even those that came
  // with the request.
  launch({ job, dispatcher: userContext.dispatcher }, () => {
    // Not an async function: an idle connection keeps no suspended frame here, only the reaction.
    let result: Promise<void> | void;
    try {
      result = handle(session);
    } catch (error) {
      return handlerFailed(session, error);
    }
    if (result === undefined) return session.onHandlerDone(undefined);
    return Promise.resolve(result).then(
      () => session.onHandlerDone(undefined),
      (error: unknown) => handlerFailed(session, error),
    );
  });
  session.startTasks();
  job.complete();
  return job;
}

/** The handler threw: the session closes with 1011 and the handler's job fails with its error. */
function handlerFailed(session: RawWebSocketSession, error: unknown): never {
  const failure = error ?? new Error('handler threw ' + String(error));
  session.onHandlerDone(failure);
  throw failure;
}
