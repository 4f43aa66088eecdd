/**
 * Reassembles fragmented data frames into messages. The parser has already
 * checked the frame sequence and the wire size; this only gathers the parts,
 * copying once and only when a message has more than one non-empty fragment.
 *
 * Memory follows the message's bytes, not its number of fragments nor the
 * reads they came in. Parts of 1 KiB or more are kept by reference (the
 * parser hands out views of whole socket reads) when the parts of this
 * message in the same read make up at least half of it: that is decided
 * once a part from another read comes, and the parts of a read that fails
 * it are then copied, each into a buffer of its own. Smaller parts are
 * copied into a slab. So 100,000 one-byte fragments cost about 100 KB, not
 * an object and a retained receive buffer each; 1 KiB fragments that each
 * share a 64 KiB read with pings keep about 1 KiB each, not 64; and four
 * 16 KiB fragments in one 64 KiB read stay views. The slab is let go with
 * its message: a session between messages keeps none.
 */
import { CopyRuns } from '../channels/copy-runs.ts';
import type { Frame, Opcode } from '../frames/frame.ts';

/** A complete message as it came off the wire (still compressed if `rsv` says so). */
export interface AssembledMessage {
  readonly opcode: Opcode;
  /** RSV bits of the message's first frame. */
  readonly rsv: number;
  readonly payload: Buffer;
}

/** Fragments shorter than this are copied into the slab instead of kept as views. */
const COPY_BELOW = 1024;
/** Size of the slab small fragments are copied into. */
const SLAB_SIZE = 4 * 1024;

export class MessageAssembler {
  #opcode: Opcode | undefined;
  #rsv = 0;
  /** The parts of the message being assembled (made by the first fragmented message; emptied, not replaced, after each). */
  #parts: Buffer[] | undefined;
  #size = 0;
  /** Small fragments of the message being assembled, copied (made by its first small fragment). */
  #copies: CopyRuns | undefined;
  /** True once this message has a part in the slab (so the parts are concatenated, not handed over as a view). */
  #copied = false;
  /** The read (ArrayBuffer) the latest views came from, how many bytes of it they keep, and where they are in `#parts`. */
  #read: ArrayBufferLike | undefined;
  #readBytes = 0;
  #readParts: number[] = [];

  /** True between messages (no fragment of one is held). */
  get idle(): boolean {
    return this.#opcode === undefined;
  }

  /** Adds a text, binary or continuation frame; returns the message once its final frame arrived. */
  push(f: Frame): AssembledMessage | undefined {
    if (this.#opcode === undefined) {
      const rsv = (f.rsv1 ? 0b100 : 0) | (f.rsv2 ? 0b010 : 0) | (f.rsv3 ? 0b001 : 0);
      if (f.fin) return { opcode: f.opcode, rsv, payload: f.payload };
      this.#opcode = f.opcode;
      this.#rsv = rsv;
    }
    const payload = f.payload;
    const parts = (this.#parts ??= []);
    if (payload.length > 0) this.#keep(payload, parts);
    this.#size += payload.length;
    if (!f.fin) return undefined;
    this.#endRun();
    // A lone part is handed over as is (a view of its read, as an unfragmented message is), unless it is a view of
    // the slab (a 4 KiB slab would outlive its few bytes); the views of the last read need no decision: all is copied.
    const whole = parts.length === 1 && !this.#copied ? parts[0]! : Buffer.concat(parts, this.#size);
    const message: AssembledMessage = { opcode: this.#opcode, rsv: this.#rsv, payload: whole };
    this.#opcode = undefined;
    parts.length = 0;
    this.#size = 0;
    this.#copied = false;
    this.#copies = undefined;
    this.#read = undefined;
    this.#readBytes = 0;
    this.#readParts.length = 0;
    return message;
  }

  /** Keeps a non-empty fragment's payload: by reference (for now), or in the slab (see the module comment). */
  #keep(payload: Buffer, parts: Buffer[]): void {
    if (payload.length >= COPY_BELOW) {
      this.#endRun();
      if (payload.buffer !== this.#read) {
        this.#settleRead(parts);
        this.#read = payload.buffer;
      }
      this.#readBytes += payload.length;
      this.#readParts.push(parts.length);
      parts.push(payload);
    } else {
      const full = (this.#copies ??= new CopyRuns(SLAB_SIZE)).append(payload);
      if (full !== undefined) parts.push(full);
      this.#copied = true;
    }
  }

  /** The views of the previous read stay views if they keep at least half of it; else each is copied into a buffer of its own. */
  #settleRead(parts: Buffer[]): void {
    const read = this.#read;
    if (read !== undefined && this.#readBytes * 2 < read.byteLength) {
      for (const at of this.#readParts) {
        const view = parts[at]!;
        const own = Buffer.allocUnsafeSlow(view.length);
        view.copy(own);
        parts[at] = own;
      }
    }
    this.#readBytes = 0;
    this.#readParts.length = 0;
  }

  /** Moves the run of copies into `#parts`, as one view. */
  #endRun(): void {
    const run = this.#copies?.takeRun();
    if (run !== undefined) (this.#parts ??= []).push(run);
  }
}
