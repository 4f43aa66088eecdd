/**
 * Web Streams adapters, both directions and both halves, with backpressure
 * carried through: a stream is read only when the channel took the previous
 * chunk, and a channel is read only when the stream asks (`pull`) or is ready
 * (`writer.ready`). Chunks pass by reference in both directions — a producer
 * must not reuse a chunk it wrote.
 *
 * | from                    | to                 | function             |
 * |-------------------------|--------------------|----------------------|
 * | `ReadableStream`        | `ByteReadChannel`  | `readableToChannel`  |
 * | `ByteReadChannel`       | `ReadableStream`   | `channelToReadable`  |
 * | `WritableStream`        | `ByteWriteChannel` | `writableToChannel`  |
 * | `ByteWriteChannel`      | `WritableStream`   | `channelToWritable`  |
 *
 * Failures cross over: a stream error closes (or cancels) the channel with
 * it, and a channel's close cause errors (or aborts) the stream.
 */
import { ByteChannel, DEFAULT_BYTE_CHANNEL_CAPACITY } from './byte-channel.ts';
import type { ByteReadChannel, ByteWriteChannel } from './byte-channel-types.ts';
import { CancellationError, toError } from './errors.ts';

/**
 * Reads `stream` into a new byte channel of `capacity` bytes (default 64 KiB).
 * The stream's end closes the channel, its error closes it with that error;
 * cancelling the channel cancels the stream, and so does a chunk that is not
 * a `Uint8Array` (the channel is closed with the `TypeError`).
 */
export function readableToChannel(
  stream: ReadableStream<Uint8Array>,
  capacity: number = DEFAULT_BYTE_CHANNEL_CAPACITY,
): ByteReadChannel {
  const channel = new ByteChannel(capacity);
  const reader = stream.getReader();
  channel.invokeOnCancel((cause) => void reader.cancel(cause).catch(() => {}));
  const pump = async (): Promise<void> => {
    try {
      for (let next = await reader.read(); !next.done; next = await reader.read()) {
        await channel.writeFully(next.value);
      }
      channel.close();
    } catch (error) {
      channel.close(toError(error)); // a no-op when the reader cancelled
      // A chunk the channel refused (not bytes): the source is read no further, so it is cancelled, not left locked.
      void reader.cancel(error).catch(() => {});
    }
  };
  void pump();
  return channel;
}

/**
 * A `ReadableStream` over `channel` that reads one chunk per `pull` (nothing
 * is read ahead: the stream's high-water mark is 0). The channel's end closes
 * the stream, its close cause errors it; cancelling the stream cancels the channel.
 */
export function channelToReadable(channel: ByteReadChannel): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const chunk = await channel.readChunk();
        if (chunk === null) controller.close();
        else controller.enqueue(chunk);
      },
      cancel(reason: unknown) {
        channel.cancel(reason === undefined ? undefined : toError(reason));
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * Writes a new byte channel of `capacity` bytes (default 64 KiB) into
 * `stream`, taking a chunk only when the stream's writer is ready. Closing the
 * channel closes the stream; closing it with a cause aborts the stream; a
 * stream error cancels the channel as soon as the stream reports it (through
 * `writer.closed`, even while the pump waits for content), so the producer's
 * pending and later writes fail with the error rather than being taken.
 */
export function writableToChannel(
  stream: WritableStream<Uint8Array>,
  capacity: number = DEFAULT_BYTE_CHANNEL_CAPACITY,
): ByteWriteChannel {
  const channel = new ByteChannel(capacity);
  const writer = stream.getWriter();
  // Rejects when the stream errors (or is aborted, below): a no-op once the channel is cancelled or drained.
  writer.closed.catch((error: unknown) => channel.cancel(toError(error)));
  const pump = async (): Promise<void> => {
    try {
      for (;;) {
        await writer.ready;
        const chunk = await channel.readChunk();
        if (chunk === null) break;
        writer.write(chunk).catch(() => {}); // a failed write shows in `ready` / `close`
      }
      await writer.close();
    } catch (error) {
      const cause = toError(error);
      channel.cancel(cause);
      writer.abort(cause).catch(() => {});
    }
  };
  void pump();
  return channel;
}

/**
 * A `WritableStream` into `channel`: each write resolves once the channel
 * queued the chunk (so the stream's backpressure is the channel's). Closing
 * the stream closes the channel; aborting it closes the channel with the
 * reason (a `CancellationError` when none is given), at once even while a
 * write waits for room (which the close releases).
 */
export function channelToWritable(channel: ByteWriteChannel): WritableStream<Uint8Array> {
  const abort = (reason: unknown): void => {
    channel.close(reason === undefined ? new CancellationError('stream was aborted') : toError(reason));
  };
  return new WritableStream<Uint8Array>({
    write(chunk, controller) {
      if (channel.tryWriteFully(chunk)) return;
      // The stream calls the sink's `abort` only once this write settles, which a reader that never reads would
      // never let happen: its signal, aborted at once, closes the channel now.
      const signal = (controller as WritableStreamDefaultController & { readonly signal: AbortSignal }).signal; // in Node, not in @types/node 20
      const onAbort = (): void => abort(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      return channel.writeFully(chunk).finally(() => signal.removeEventListener('abort', onAbort));
    },
    close() {
      channel.close();
    },
    abort,
  });
}
