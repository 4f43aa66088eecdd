/**
 * Message-at-a-time raw DEFLATE over `node:zlib` for permessage-deflate
 * (RFC 7692 section 7.2): the compressor ends each message with a sync flush
 * and strips the `00 00 ff ff` tail; the decompressor appends it back and
 * stops with a 1009 `ProtocolError` as soon as the output would exceed the
 * limit. Each operation takes a slot of the process-wide `ZlibLimiter`.
 *
 * With context takeover a direction's zlib stream is created on first use
 * and lives until `close`. Without, a reset stream is borrowed from a
 * process-wide pool for each message and given back after it, so an idle
 * connection holds no zlib memory and no message pays for creating one.
 */
import { constants as bufferConstants } from 'node:buffer';
import * as zlib from 'node:zlib';
import { CloseCode } from '../frames/close.ts';
import { ProtocolError } from '../frames/errors.ts';
import type { ZlibLimiter } from './zlib-limiter.ts';
import type { RawZlibStream, ZlibPool } from './zlib-pool.ts';

/** The empty non-final stored block a sync flush ends with (RFC 7692 section 7.2.1). */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** The start of every codec's chain of operations. */
const SETTLED: Promise<void> = Promise.resolve();

function ignore(): void {}

/** Payloads up to this size are joined with the tail so inflating costs one thread-pool round trip. */
const JOIN_TAIL_LIMIT = 64 * 1024;

/** The codec was closed (the session ended) while a message was waiting or in progress. */
export class CodecClosedError extends Error {
  override readonly name = 'CodecClosedError';
  constructor() {
    super('permessage-deflate was disposed while a message was being processed');
  }
}

/** Compressor settings of one direction. */
export interface DeflaterOptions {
  /** Negotiated window (8-15). zlib cannot make raw streams with 8, so 8 compresses with 9 (see below). */
  readonly windowBits: number;
  /** zlib level, -1 (default, 6) or 0-9. */
  readonly level: number;
  /** zlib memLevel, 1-9. */
  readonly memLevel: number;
  /** Start each message with an empty window. */
  readonly noContextTakeover: boolean;
  readonly limiter: ZlibLimiter;
  /** Where streams come from and go back to without context takeover. */
  readonly pool: ZlibPool;
}

/** Decompressor settings of one direction. */
export interface InflaterOptions {
  /** Negotiated window of the peer (8-15). */
  readonly windowBits: number;
  /** The peer starts each message with an empty window. */
  readonly noContextTakeover: boolean;
  readonly limiter: ZlibLimiter;
  /** Where streams come from and go back to without context takeover. */
  readonly pool: ZlibPool;
}

/** Where the output of the running operation goes; settles that operation once. */
interface Sink {
  chunks: Buffer[];
  length: number;
  limit: number;
  resolve(value: Buffer): void;
  reject(error: Error): void;
  settled: boolean;
}

/**
 * The state shared by both directions: a zlib stream fed one message at a
 * time, its output gathered into the current `Sink`. With context takeover
 * the stream is this codec's own, created on first use; without, it is
 * borrowed from the pool for each message.
 */
abstract class MessageCodec<S extends RawZlibStream> {
  readonly #limiter: ZlibLimiter;
  readonly #pool: ZlibPool;
  readonly #noContextTakeover: boolean;
  #stream: S | undefined;
  /** Removes this codec's listeners from `#stream`, before it goes back to the pool. */
  #detach: (() => void) | undefined;
  #sink: Sink | undefined;
  /** Operations run one after another; this is the last one queued. */
  #last: Promise<void> = SETTLED;
  #closed = false;

  constructor(limiter: ZlibLimiter, pool: ZlibPool, noContextTakeover: boolean) {
    this.#limiter = limiter;
    this.#pool = pool;
    this.#noContextTakeover = noContextTakeover;
  }

  /** Names the stream settings, so pooled streams are only reused with the same ones. */
  protected abstract readonly poolKey: string;

  /** Makes a new zlib stream for this direction. */
  protected abstract create(): S;

  /** Maps a zlib error to the error the operation rejects with. */
  protected abstract zlibError(error: Error): Error;

  /** Whether the codec currently holds a zlib stream (for memory accounting and tests). */
  get hasStream(): boolean {
    return this.#stream !== undefined;
  }

  /** Releases the zlib stream; waiting and running operations reject with `CodecClosedError`. */
  close(): void {
    this.#closed = true;
    this.#fail(new CodecClosedError());
  }

  /**
   * Runs `feed` on the stream once this direction's earlier operations are
   * done and a limiter slot is free; resolves with all output the stream
   * produced, once `feed`'s last write is processed.
   */
  protected run(limit: number, feed: (stream: S, done: (error?: Error | null) => void) => void): Promise<Buffer> {
    const result = this.#last.then(() =>
      // Closed while waiting behind earlier operations: no limiter slot (queued behind other sessions' work) for it.
      this.#closed
        ? Promise.reject(new CodecClosedError())
        : this.#limiter.run(
            () =>
              new Promise<Buffer>((resolve, reject) => {
                if (this.#closed) {
                  reject(new CodecClosedError());
                  return;
                }
                const stream = (this.#stream ??= this.#open());
                const sink: Sink = { chunks: [], length: 0, limit, resolve, reject, settled: false };
                this.#sink = sink;
                feed(stream, (error) => {
                  if (sink.settled) return;
                  if (error) {
                    this.#fail(this.zlibError(error));
                    return;
                  }
                  this.#finish(sink, stream);
                });
              }),
          ),
    );
    // Settled with nothing: the chain must not keep the last output (a whole message) for the connection's life.
    this.#last = result.then(ignore, ignore);
    return result;
  }

  /** Hook for the inflater: whether the last message ended the DEFLATE stream (BFINAL). */
  protected ended(_stream: S): boolean {
    return false;
  }

  /** A stream for the next message: pooled (no context takeover) or new, with this codec's listeners. */
  #open(): S {
    const stream = (this.#noContextTakeover ? (this.#pool.take(this.poolKey) as S | undefined) : undefined) ?? this.create();
    // Events of a stream this codec no longer uses are ignored.
    const onData = (chunk: Buffer) => {
      if (this.#stream === stream) this.#onData(chunk);
    };
    const onError = (error: Error) => {
      if (this.#stream === stream) this.#fail(this.zlibError(error));
    };
    stream.on('data', onData);
    stream.on('error', onError);
    this.#detach = () => {
      stream.off('data', onData);
      stream.off('error', onError);
    };
    return stream;
  }

  #onData(chunk: Buffer): void {
    const sink = this.#sink;
    if (sink === undefined || sink.settled) return;
    sink.length += chunk.length;
    if (sink.length > sink.limit) {
      this.#fail(new ProtocolError(CloseCode.MessageTooBig, `an inflated message exceeds the limit of ${sink.limit} bytes`));
      return;
    }
    sink.chunks.push(chunk);
  }

  #finish(sink: Sink, stream: S): void {
    sink.settled = true;
    this.#sink = undefined;
    if (this.ended(stream)) {
      this.#discard();
    } else if (this.#noContextTakeover) {
      this.#detach?.();
      this.#stream = undefined;
      this.#pool.give(this.poolKey, stream, this.#limiter.concurrency);
    }
    const { chunks, length } = sink;
    sink.resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length));
  }

  /** Rejects the running operation (if any) and discards the stream, whose state is now unusable. */
  #fail(error: Error): void {
    const sink = this.#sink;
    this.#sink = undefined;
    this.#discard();
    if (sink !== undefined && !sink.settled) {
      sink.settled = true;
      sink.chunks = [];
      sink.reject(error);
    }
  }

  /** Closes the stream (its listeners stay, ignoring whatever it still emits). */
  #discard(): void {
    const stream = this.#stream;
    this.#stream = undefined;
    stream?.close();
  }
}

/** Compresses messages for one direction. */
export class MessageDeflater extends MessageCodec<zlib.DeflateRaw> {
  protected readonly poolKey: string;
  readonly #options: DeflaterOptions;

  constructor(options: DeflaterOptions) {
    super(options.limiter, options.pool, options.noContextTakeover);
    this.#options = options;
    this.poolKey = `deflate:${options.windowBits}:${options.level}:${options.memLevel}`;
  }

  /**
   * Compresses one non-empty message: DEFLATE blocks ending in a sync flush,
   * without the trailing `00 00 ff ff`.
   */
  deflate(payload: Buffer): Promise<Buffer> {
    return this.run(Infinity, (stream, done) => stream.write(payload, done)).then((out) => {
      if (out.length < TAIL.length || !out.subarray(out.length - TAIL.length).equals(TAIL)) {
        throw new Error('zlib did not end the message with a sync flush');
      }
      return out.subarray(0, out.length - TAIL.length);
    });
  }

  protected create(): zlib.DeflateRaw {
    return zlib.createDeflateRaw({
      // zlib rejects 8 for raw deflate (madler/zlib#171); with 9 it never
      // emits a distance above 250 (w_size - MIN_LOOKAHEAD), which an 8-bit
      // window decodes. Node would make the same substitution silently.
      windowBits: Math.max(this.#options.windowBits, 9),
      level: this.#options.level,
      memLevel: this.#options.memLevel,
      flush: zlib.constants.Z_SYNC_FLUSH,
    });
  }

  protected zlibError(error: Error): Error {
    return error;
  }
}

/** Decompresses messages for one direction, with a running size check. */
export class MessageInflater extends MessageCodec<zlib.InflateRaw> {
  protected readonly poolKey: string;
  readonly #windowBits: number;
  /** The stream's `bytesWritten` once it has consumed the current message, tail included. */
  #consumedAfter = 0;

  constructor(options: InflaterOptions) {
    super(options.limiter, options.pool, options.noContextTakeover);
    this.#windowBits = options.windowBits;
    this.poolKey = `inflate:${options.windowBits}`;
  }

  /**
   * Inflates one message's payload (without the tail, which is appended
   * here). Rejects with a 1009 `ProtocolError` as soon as the output passes
   * `maxSize` bytes, or what a Buffer can hold when that is less (at most
   * one zlib chunk, 16 KiB, is produced past the limit before it stops),
   * and with a 1007 `ProtocolError` on invalid data.
   */
  inflate(payload: Buffer, maxSize: number): Promise<Buffer> {
    return this.run(Math.min(maxSize, bufferConstants.MAX_LENGTH), (stream, done) => {
      this.#consumedAfter = stream.bytesWritten + payload.length + TAIL.length;
      if (payload.length <= JOIN_TAIL_LIMIT) {
        const joined = Buffer.allocUnsafe(payload.length + TAIL.length);
        payload.copy(joined, 0);
        TAIL.copy(joined, payload.length);
        stream.write(joined, done);
      } else {
        stream.write(payload);
        stream.write(TAIL, done);
      }
    });
  }

  protected create(): zlib.InflateRaw {
    return zlib.createInflateRaw({ windowBits: this.#windowBits, flush: zlib.constants.Z_SYNC_FLUSH });
  }

  /** A final block (BFINAL) ends the DEFLATE stream: zlib stops consuming and the next message needs a new one. */
  protected override ended(stream: zlib.InflateRaw): boolean {
    return stream.bytesWritten < this.#consumedAfter;
  }

  /** Data zlib rejects closes with 1007, as in `ws`. */
  protected zlibError(error: Error): Error {
    return new ProtocolError(CloseCode.InvalidPayload, `invalid compressed data: ${error.message}`);
  }
}
