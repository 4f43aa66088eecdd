/**
 * Coalescing writes across sockets within one turn of the event loop (what
 * uWebSockets calls corking, applied to every socket at once).
 *
 * When many connections each answer a message in the same turn (the I/O
 * phase hands over the readable sockets one by one), writing each answer at
 * once interleaves reads, JavaScript and writes, and over loopback every
 * write that finds the peer asleep also pays for waking it (on a virtual
 * machine, an inter-processor interrupt through the hypervisor): the peer
 * takes one answer, sleeps again, and is woken again by the next. Corking
 * those sockets and uncorking them all together after the I/O phase
 * (`setImmediate`) writes the answers back to back, so the peer, woken by
 * the first, finds the rest waiting. The same number of writes, no extra
 * copy, the answers leave at most one turn's work later.
 *
 * A single busy connection would only pay for the deferral (an immediate per
 * turn, and its answers a little later), so corking starts only once writes
 * of two different sockets come one after the other, and stops after
 * `SINGLE_FLUSHES_TO_STOP` flushes in a row that each found only one socket.
 * A batch that fills the socket's buffer by itself is never held back (see
 * `coalesceWrites`).
 */
import type { Duplex } from 'node:stream';
import { toError } from './errors.ts';

/** Flushes in a row with a single socket after which writes go out at once again. */
const SINGLE_FLUSHES_TO_STOP = 8;

/** True while writes are corked until the end of the turn. */
let coalescing = false;
/**
 * The socket of the latest direct write (while not coalescing): a write of
 * another one starts coalescing. Forgotten when it closes (`forgetWriter`),
 * so a connection that is gone is not kept alive here.
 */
let lastWriter: Duplex | undefined;
/** Sockets corked in this turn, uncorked by `flush`. */
let corked: Duplex[] = [];
/**
 * The other list `flush` swaps in before it uncorks (empty between flushes):
 * a socket corked while it runs (an uncork that makes another socket write
 * at once, as an in-memory pair does) waits for the next flush, not lost.
 */
let spare: Duplex[] = [];
let flushScheduled = false;
let singleFlushes = 0;

/**
 * Call before writing a batch of `bytes` to `socket`: corks it until the end
 * of this turn when writes of several sockets are being coalesced (the
 * caller then writes as usual; `write` still reports a full buffer).
 *
 * A batch of the socket's `writableHighWaterMark` or more goes out at once:
 * its `write` reports a full buffer, and the caller's next batch waits for
 * `'drain'`, which a corked socket cannot give before the end of the turn.
 * Held back, one such batch per socket and turn would go out while the turn
 * reads on (up to a whole queue of large messages per connection, long
 * enough for their buffers to be promoted and to cost full collections: 64
 * KiB echoes with many in flight ran at half the speed).
 */
export function coalesceWrites(socket: Duplex, bytes: number): void {
  if (bytes >= socket.writableHighWaterMark) {
    if (socket.writableCorked !== 0) uncorkEarly(socket);
    return;
  }
  if (!coalescing) {
    if (lastWriter === socket || lastWriter === undefined) {
      lastWriter = socket;
      return;
    }
    coalescing = true;
    lastWriter = undefined;
  }
  if (socket.writableCorked !== 0) return; // corked already: by this turn's flush, or by its owner
  socket.cork();
  corked.push(socket);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
}

/**
 * Uncorks `socket` now if this turn corked it (what waits then goes out
 * ahead of the caller's batch), and takes it off the flush's list.
 */
function uncorkEarly(socket: Duplex): void {
  const at = corked.indexOf(socket);
  if (at === -1) return; // corked by its owner, not here
  corked[at] = corked[corked.length - 1]!;
  corked.pop();
  socket.uncork();
}

/** Called when `socket` closes: it is no longer the last writer (the module keeps no closed socket). */
export function forgetWriter(socket: Duplex): void {
  if (lastWriter === socket) lastWriter = undefined;
}

/**
 * Uncorks every socket corked in this turn (their writes go out, each as one
 * `writev`). A socket whose write throws is destroyed with the error (its
 * owner hears of it through `'error'`, as when its own write throws), and
 * the others are still flushed: nothing escapes into the immediate.
 */
function flush(): void {
  flushScheduled = false;
  const list = corked;
  corked = spare;
  spare = list;
  const count = list.length;
  for (let i = 0; i < count; i++) {
    const socket = list[i]!;
    try {
      socket.uncork();
    } catch (error) {
      socket.destroy(toError(error));
    }
  }
  list.length = 0;
  if (count > 1) singleFlushes = 0;
  else if (++singleFlushes >= SINGLE_FLUSHES_TO_STOP) {
    singleFlushes = 0;
    coalescing = false;
  }
}
