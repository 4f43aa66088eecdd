/**
 * Reassembles fragmented data frames into messages. The parser has already
 * checked the frame sequence and the wire size; this only gathers the parts,
 * copying once and only when a message has more than one non-empty fragment.
 */
import type { Frame, Opcode } from '../frames/frame.ts';

/** A complete message as it came off the wire (still compressed if `rsv` says so). */
export interface AssembledMessage {
  readonly opcode: Opcode;
  /** RSV bits of the message's first frame. */
  readonly rsv: number;
  readonly payload: Buffer;
}

export class MessageAssembler {
  #opcode: Opcode | undefined;
  #rsv = 0;
  #parts: Buffer[] = [];
  #size = 0;

  /** Adds a text, binary or continuation frame; returns the message once its final frame arrived. */
  push(f: Frame): AssembledMessage | undefined {
    if (this.#opcode === undefined) {
      const rsv = (f.rsv1 ? 0b100 : 0) | (f.rsv2 ? 0b010 : 0) | (f.rsv3 ? 0b001 : 0);
      if (f.fin) return { opcode: f.opcode, rsv, payload: f.payload };
      this.#opcode = f.opcode;
      this.#rsv = rsv;
    }
    if (f.payload.length > 0) {
      this.#parts.push(f.payload);
      this.#size += f.payload.length;
    }
    if (!f.fin) return undefined;
    const parts = this.#parts;
    const message: AssembledMessage = {
      opcode: this.#opcode,
      rsv: this.#rsv,
      payload: parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.#size),
    };
    this.#opcode = undefined;
    this.#parts = [];
    this.#size = 0;
    return message;
  }
}
