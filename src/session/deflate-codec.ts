/**
 * Message-at-a-time raw DEFLATE over `node:zlib` for permessage-deflate
 * (RFC 7692 section 7.2): the compressor ends each message with a sync flush
 * and strips the `00 00 ff ff` tail; the decompressor appends it back and
 * stops with a 1009 `ProtocolError` as soon as the output would exceed the
 * limit. Each operation takes a slot of the process-wide `ZlibLimiter`.
 *
 * zlib streams are created on first use. Without context takeover a stream
 * is released after every message, so an idle connection holds no zlib
 * memory; with context takeover it lives until `close`.
 */
import zlib from 'node:zlib';
import { ProtocolError } from '../frames/errors.ts';
import type { ZlibLimiter } from './zlib-limiter.ts';

/** The empty non-final stored block a sync flush ends with (RFC 7692 section 7.2.1). */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** Payloads up to this size are joined with the tail so inflating costs one thread-pool round trip. */
const JOIN_TAIL_LIMIT = 64 * 1024;

/** Close code for compressed data zlib rejects (as `ws` does). */
const INVALID_PAYLOAD = 1007;
/** Close code for a message that inflates beyond the limit. */
const MESSAGE_TOO_BIG = 1009;

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
}

/** Decompressor settings of one direction. */
export interface InflaterOptions {
  /** Negotiated window of the peer (8-15). */
  readonly windowBits: number;
  /** The peer starts each message with an empty window. */
  readonly noContextTakeover: boolean;
  readonly limiter: ZlibLimiter;
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
 * The state shared by both directions: one lazily created zlib stream fed
 * one message at a time, its output gathered into the current `Sink`.
 */
abstract class MessageCodec<S extends zlib.DeflateRaw | zlib.InflateRaw> {
  readonly #limiter: ZlibLimiter;
  readonly #noContextTakeover: boolean;
  #stream: S | undefined;
  #sink: Sink | undefined;
  /** Operations run one after another; this is the last one queued. */
  #last: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(limiter: ZlibLimiter, noContextTakeover: boolean) {
    this.#limiter = limiter;
    this.#noContextTakeover = noContextTakeover;
  }

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
   * Runs `feed` on the stream (created if needed) once this direction's
   * earlier operations are done and a limiter slot is free; resolves with
   * all output the stream produced, once `feed`'s last write is processed.
   */
  protected run(limit: number, feed: (stream: S, done: (error?: Error | null) => void) => void): Promise<Buffer> {
    const result = this.#last.then(() =>
      this.#limiter.run(
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
    this.#last = result.catch(() => undefined);
    return result;
  }

  /** Hook for the inflater: whether the stream reached the end of a DEFLATE stream (BFINAL). */
  protected ended(_stream: S): boolean {
    return false;
  }

  #open(): S {
    const stream = this.create();
    stream.on('data', (chunk: Buffer) => {
      const sink = this.#sink;
      if (sink === undefined || sink.settled) return;
      sink.length += chunk.length;
      if (sink.length > sink.limit) {
        this.#fail(
          new ProtocolError(MESSAGE_TOO_BIG, `an inflated message exceeds the limit of ${sink.limit} bytes`),
        );
        return;
      }
      sink.chunks.push(chunk);
    });
    stream.on('error', (error: Error) => {
      if (this.#stream === stream) this.#fail(this.zlibError(error));
    });
    return stream;
  }

  #finish(sink: Sink, stream: S): void {
    sink.settled = true;
    this.#sink = undefined;
    if (this.#noContextTakeover || this.ended(stream)) this.#release();
    const { chunks, length } = sink;
    sink.resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length));
  }

  /** Rejects the running operation (if any) and drops the stream, whose state is now unusable. */
  #fail(error: Error): void {
    const sink = this.#sink;
    this.#sink = undefined;
    this.#release();
    if (sink !== undefined && !sink.settled) {
      sink.settled = true;
      sink.chunks = [];
      sink.reject(error);
    }
  }

  #release(): void {
    const stream = this.#stream;
    this.#stream = undefined;
    stream?.close();
  }
}

/** Compresses messages for one direction. */
export class MessageDeflater extends MessageCodec<zlib.DeflateRaw> {
  readonly #options: DeflaterOptions;

  constructor(options: DeflaterOptions) {
    super(options.limiter, options.noContextTakeover);
    this.#options = options;
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
  readonly #windowBits: number;
  /** Bytes written to the current stream, to notice when it stopped consuming (BFINAL). */
  #fed = 0;

  constructor(options: InflaterOptions) {
    super(options.limiter, options.noContextTakeover);
    this.#windowBits = options.windowBits;
  }

  /**
   * Inflates one message's payload (without the tail, which is appended
   * here). Rejects with a 1009 `ProtocolError` as soon as the output passes
   * `maxSize` bytes (at most one zlib chunk, 16 KiB, is produced past the
   * limit before it stops), and with a 1007 `ProtocolError` on invalid data.
   */
  inflate(payload: Buffer, maxSize: number): Promise<Buffer> {
    return this.run(maxSize, (stream, done) => {
      if (payload.length <= JOIN_TAIL_LIMIT) {
        const joined = Buffer.allocUnsafe(payload.length + TAIL.length);
        payload.copy(joined, 0);
        TAIL.copy(joined, payload.length);
        stream.write(joined, done);
      } else {
        stream.write(payload);
        stream.write(TAIL, done);
      }
      this.#fed += payload.length + TAIL.length;
    });
  }

  protected create(): zlib.InflateRaw {
    this.#fed = 0;
    return zlib.createInflateRaw({ windowBits: this.#windowBits, flush: zlib.constants.Z_SYNC_FLUSH });
  }

  /** A final block (BFINAL) ends the DEFLATE stream: zlib stops consuming and the next message needs a new one. */
  protected override ended(stream: zlib.InflateRaw): boolean {
    return stream.bytesWritten < this.#fed;
  }

  protected zlibError(error: Error): Error {
    return new ProtocolError(INVALID_PAYLOAD, `invalid compressed data: ${error.message}`);
  }
}
