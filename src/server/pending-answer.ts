/**
 * A WebSocket request between its arrival and its answer, over either HTTP
 * version: an HTTP/1.1 connection (the answer is written to its socket, which
 * is then dropped) or an HTTP/2 stream (the answer goes on the stream, which
 * is then closed; the connection stays). The server object answers through
 * this one shape: an error status (404, 500, 503 and the handshake's own),
 * the `verify` hook's refusal, acceptance, or nothing (the peer left).
 * `close()` answers every one still pending 503.
 */
import { constants, type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { ByteReadChannel, ByteWriteChannel } from '../channels/byte-channel-types.ts';
import { internalServerError, type HandshakeError } from '../upgrade/errors.ts';
import { answerAndCloseStream, refuseHttp2Stream } from '../upgrade/h2-serve.ts';
import { formatErrorResponse } from '../upgrade/http-response.ts';
import { sendAndClose } from '../upgrade/serve.ts';
import { http2Refusal, refusalResponse, type Refusal } from './verify.ts';

/** A request awaiting its answer; answered at most once. */
export abstract class PendingAnswer {
  /** Aborted once the answer no longer matters (handed to `verify` as `info.signal`). */
  readonly controller = new AbortController();
  #answered = false;

  get answered(): boolean {
    return this.#answered;
  }

  /** Answers `error`'s status and message and drops the request, unless it was answered; `verify` is told why with `reason`. */
  fail(error: HandshakeError, reason?: Error): void {
    if (this.#answer(reason)) this.sendError(error);
  }

  /** Answers the `verify` hook's refusal and drops the request, unless it was answered. */
  refuse(refusal: Refusal): void {
    if (this.#answer()) this.sendRefusal(refusal);
  }

  /** Releases the request without an answer (the peer left). */
  drop(): void {
    this.#answered = true;
    this.release();
  }

  /** Marks it answered with the WebSocket's acceptance (the caller sends it). */
  accepted(): void {
    this.#answered = true;
  }

  /** Calls `listener` (once) when the peer goes away; returns the function that stops listening. */
  abstract whenGone(listener: () => void): () => void;

  protected abstract sendError(error: HandshakeError): void;
  protected abstract sendRefusal(refusal: Refusal): void;
  protected abstract release(): void;

  #answer(reason?: Error): boolean {
    if (this.#answered) return false;
    this.#answered = true;
    this.controller.abort(reason);
    return true;
  }
}

/** An HTTP/1.1 upgrade request on its socket's byte channels. */
export class Http1PendingAnswer extends PendingAnswer {
  constructor(
    readonly input: ByteReadChannel,
    readonly output: ByteWriteChannel,
    readonly socket: Duplex,
  ) {
    super();
  }

  whenGone(listener: () => void): () => void {
    // A peer that leaves may only half-close (node:http keeps such sockets open): its end is enough.
    this.socket.once('end', listener);
    this.socket.once('close', listener);
    return () => {
      this.socket.off('end', listener);
      this.socket.off('close', listener);
    };
  }

  protected sendError(error: HandshakeError): void {
    sendAndClose(this.input, this.output, formatErrorResponse(error));
  }

  protected sendRefusal(refusal: Refusal): void {
    sendAndClose(this.input, this.output, refusalResponse(refusal));
  }

  protected release(): void {
    this.output.close();
    this.input.cancel();
  }
}

/** An extended CONNECT on its HTTP/2 stream. */
export class Http2PendingAnswer extends PendingAnswer {
  /** @param lingerMs how long a refused stream may stay open once answered (see `answerAndCloseStream`). */
  constructor(
    readonly stream: ServerHttp2Stream,
    readonly lingerMs: number | undefined,
  ) {
    super();
  }

  whenGone(listener: () => void): () => void {
    if (this.stream.closed || this.stream.destroyed) {
      queueMicrotask(listener);
      return () => {};
    }
    this.stream.once('close', listener);
    return () => this.stream.off('close', listener);
  }

  protected sendError(error: HandshakeError): void {
    refuseHttp2Stream(this.stream, error, this.lingerMs);
  }

  protected sendRefusal(refusal: Refusal): void {
    const { stream } = this;
    if (stream.destroyed || stream.closed || stream.headersSent) return;
    const { headers, body } = http2Refusal(refusal);
    try {
      answerAndCloseStream(stream, headers, body, this.lingerMs);
    } catch {
      // A header node:http2 refuses to send (say, `te` with a value other than `trailers`): a plain 500 instead.
      refuseHttp2Stream(stream, internalServerError(), this.lingerMs);
    }
  }

  protected release(): void {
    if (!this.stream.closed && !this.stream.destroyed) this.stream.close(constants.NGHTTP2_CANCEL);
  }
}
