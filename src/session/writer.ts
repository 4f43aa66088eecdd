/**
 * The writer task (Ktor's writer coroutine): it owns the receiving end of
 * the session's `outgoing` queue and the output channel's writing end. Each
 * turn it serializes every frame queued so far through the protocol into
 * one batch and hands the batch to the output in one piece (`tryWriteAll`:
 * the socket adapter, when idle, writes it to the socket from inside that
 * call, with one `writev`), until the queue is closed; then it closes the
 * output.
 *
 * It is a callback-driven state machine, not an async function: while the
 * queue is empty it is a listener parked on it (`whenReceivable`), woken once
 * per burst of sends, so an idle connection holds no suspended frame and no
 * promise for it. It waits on a promise only while the output is full
 * (a peer that reads slowly: backpressure). That wait, and the time bytes
 * the output took wait for the socket beyond it (the output's `watchStall`:
 * one large frame fills a socket's buffer by itself and leaves the output
 * empty), are bounded by the host's write deadline.
 */
import type { ByteWriteChannel, StallListener } from '../channels/byte-channel-types.ts';
import type { Channel, ReceivableListener } from '../channels/channel.ts';
import { isControl, Opcode, type Frame } from '../frames/frame.ts';
import type { Protocol } from './protocol.ts';

/** Bytes serialized per turn before the batch is handed to the output. */
const BATCH_BYTES = 256 * 1024;

/** What the writer's bytes wait for (`Writer.#waits`): room in the output, and the socket beyond it. */
const WAIT_ROOM = 1;
const WAIT_SOCKET = 2;

/** The session side of a writer. */
export interface WriterHost {
  /** A frame to send after the queue: a close frame that did not fit in it (taken once). */
  takePendingClose(): Frame | undefined;
  /**
   * The write deadline: true when a wait begins (for room in the output, or
   * for the socket to take what the output took), each one anew; false once
   * nothing waits.
   */
  waitingForOutput(waiting: boolean): void;
  /** Payload bytes of the data frames the writer took from the queue for a batch. */
  dataTaken(bytes: number): void;
  /** A batch holding our close frame is in the output. */
  closeWritten(): void;
  /** The writer is idle: nothing queued, nothing being written. */
  writerIdle(): void;
  /**
   * The queue ended: true when the host holds the output open a while (it
   * then calls `closeOutput`), false to close it now.
   */
  holdOutput(): boolean;
  /** The writer stopped (its task is over): the queue ended and the output is closed (`undefined`), or with why. */
  writerStopped(error: Error | undefined): void;
}

export class Writer implements ReceivableListener, StallListener {
  readonly #outgoing: Channel<Frame>;
  readonly #output: ByteWriteChannel;
  readonly #protocol: Protocol;
  readonly #host: WriterHost;
  /**
   * The batch waiting for room in the output, and how much of it is in (a
   * batch the output takes at once is never stored: a young object stored
   * in an old one costs a write barrier's slow path).
   */
  #batch: Buffer[] | undefined;
  #written = 0;
  /** Bytes of the batch not yet in the output (see `pendingBytes`). */
  #unwritten = 0;
  #closeInBatch = false;
  #idle = true;
  /** What is waited for, as bits (`WAIT_ROOM`, `WAIT_SOCKET`). */
  #waits = 0;

  constructor(outgoing: Channel<Frame>, output: ByteWriteChannel, protocol: Protocol, host: WriterHost) {
    this.#outgoing = outgoing;
    this.#output = output;
    this.#protocol = protocol;
    this.#host = host;
  }

  /** True while nothing is queued or being written (the first batch counts as busy before it is taken). */
  get isIdle(): boolean {
    return this.#idle && this.#outgoing.size === 0;
  }

  /**
   * Bytes the writer took from the queue and serialized (headers included)
   * that are not in the output yet: the rest of a batch waiting for room.
   */
  get pendingBytes(): number {
    return this.#unwritten;
  }

  /** Starts writing (call once, where the task should start). */
  start(): void {
    // Each batch is written in one piece (`tryWriteAll`) and readable at once: an output handed over with
    // autoFlush off would otherwise keep it until some write had to wait.
    this.#output.autoFlush = true;
    this.#output.watchStall?.(this);
    this.#write();
  }

  /** The output's bytes stopped at the socket, or went (see `StallListener`). */
  onStall(stalled: boolean): void {
    if (stalled) this.#waitBegins(WAIT_SOCKET);
    else this.#waitEnds(WAIT_SOCKET);
  }

  #waitBegins(what: number): void {
    this.#waits |= what;
    this.#host.waitingForOutput(true);
  }

  #waitEnds(what: number): void {
    this.#waits &= ~what;
    if (this.#waits === 0) this.#host.waitingForOutput(false);
  }

  /** Frames were queued or the queue ended (see `whenReceivable`). */
  onReceivable(): void {
    this.#write();
  }

  /** Serializes and writes batches until the queue is empty (then parks), the output is full (then waits), or it ends. */
  #write(): void {
    const outgoing = this.#outgoing;
    const protocol = this.#protocol;
    try {
      for (;;) {
        let f = outgoing.tryReceive() ?? this.#host.takePendingClose();
        if (f === undefined) {
          if (outgoing.isClosedForReceive) return this.#finish();
          if (!this.#idle) {
            this.#idle = true;
            this.#host.writerIdle();
          }
          if (!outgoing.whenReceivable(this)) return;
          continue;
        }
        this.#idle = false;
        let dataBytes = 0;
        do {
          if (!isControl(f.opcode)) dataBytes += f.payload.length;
          if (protocol.sendFrame(f) && f.opcode === Opcode.Close) this.#closeInBatch = true;
        } while (protocol.pendingBytes < BATCH_BYTES && (f = outgoing.tryReceive()) !== undefined);
        this.#host.dataTaken(dataBytes);
        this.#unwritten = protocol.pendingBytes;
        const batch = protocol.dataToSend();
        if (this.#output.tryWriteAll(batch)) {
          this.#unwritten = 0;
          this.#batchWritten();
          continue;
        }
        this.#batch = batch;
        this.#written = 0;
        if (!this.#writeBatch()) return;
      }
    } catch (error) {
      this.#stop(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /**
   * Hands the stored batch (one the output could not take in one piece,
   * see `#write`: the socket adapter writes such a piece with one `writev`,
   * a large frame's header and payload together) to the output buffer by
   * buffer; false when it has to wait for room (it resumes by itself).
   */
  #writeBatch(): boolean {
    const output = this.#output;
    const batch = this.#batch as Buffer[];
    while (this.#written < batch.length) {
      const bytes = batch[this.#written++] as Buffer;
      if (!output.tryWriteFully(bytes)) {
        this.#waitBegins(WAIT_ROOM);
        output.writeFully(bytes).then(this.#resume.bind(this), this.#fail.bind(this));
        return false;
      }
      this.#unwritten -= bytes.length;
    }
    this.#batch = undefined;
    this.#batchWritten();
    return true;
  }

  /** The whole batch is in the output. */
  #batchWritten(): void {
    if (this.#closeInBatch) {
      this.#closeInBatch = false;
      this.#host.closeWritten();
    }
  }

  /** The output took the write the batch waited on. */
  #resume(): void {
    this.#waitEnds(WAIT_ROOM);
    this.#unwritten -= (this.#batch as Buffer[])[this.#written - 1]!.length;
    try {
      if (this.#writeBatch()) this.#write();
    } catch (error) {
      this.#fail(error);
    }
  }

  #fail(error: unknown): void {
    this.#stop(error instanceof Error ? error : new Error(String(error)));
  }

  /** The queue ended: close the output, now or once the host's hold ends (see `WriterHost.holdOutput`). */
  #finish(): void {
    if (!this.#host.holdOutput()) this.closeOutput();
  }

  /** Closes the output (every byte written stays readable to the socket); the task is over. */
  closeOutput(): void {
    this.#output.close();
    this.#stop(undefined);
  }

  #stop(error: Error | undefined): void {
    this.#idle = true;
    // The task is over: what the socket still holds is the adapter's to flush (or drop, `lingerMs`), not a wait of ours.
    this.#output.watchStall?.(undefined);
    if (this.#waits !== 0) {
      this.#waits = 0;
      this.#host.waitingForOutput(false);
    }
    this.#host.writerStopped(error);
  }
}
