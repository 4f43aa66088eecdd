/**
 * What the server reports through `onError`, and the default reporter. A
 * handler's own bug is reported; how a connection ended is not: the errors a
 * session throws at its handler when the peer leaves, breaks the protocol or
 * times out, or when the server drops it, are the session's outcome (see its
 * `closeReason`), as Python `websockets` treats `ConnectionClosed`.
 */
import { CancellationError, ClosedReceiveChannelError } from '../channels/errors.ts';
import type { DefaultWebSocketSession } from '../session/default-session.ts';
import { ConnectionClosedError, SessionClosedError } from '../session/errors.ts';

/**
 * Receives what went wrong: a handler that threw (with its session) or a
 * failed `verify` hook and other server errors (`session` undefined).
 */
export type ErrorReporter<Data> = (error: unknown, session: DefaultWebSocketSession<Data> | undefined) => void;

/**
 * True when `error`, thrown by a handler, is how its session ended rather
 * than a bug: the session's own failure (the peer's protocol error, a lost
 * connection, a ping, write or partial-frame timeout), a send or receive
 * after the close, or a cancellation.
 */
export function isSessionEnd(error: unknown, session: DefaultWebSocketSession<unknown>): boolean {
  return (
    error === session.raw.failure ||
    error instanceof ConnectionClosedError ||
    error instanceof SessionClosedError ||
    error instanceof ClosedReceiveChannelError ||
    error instanceof CancellationError
  );
}

/** The default `onError`: one line saying where, then the error with its stack, on stderr. */
export function printError(error: unknown, session: DefaultWebSocketSession<unknown> | undefined): void {
  if (session === undefined) {
    console.error('WebSocketServer:', error);
    return;
  }
  const peer = session.remoteAddress === undefined ? 'unknown peer' : `${session.remoteAddress}:${session.remotePort}`;
  console.error(`WebSocketServer: the handler for ${session.request?.url ?? '?'} (${peer}) threw:`, error);
}

/** Calls `report`; if the reporter itself throws, both errors go to stderr instead (never further). */
export function reportSafely<Data>(
  report: ErrorReporter<Data>,
  error: unknown,
  session: DefaultWebSocketSession<Data> | undefined,
): void {
  try {
    report(error, session);
  } catch (reporterError) {
    printError(error, session as DefaultWebSocketSession<unknown> | undefined);
    console.error('WebSocketServer: onError threw:', reporterError);
  }
}
