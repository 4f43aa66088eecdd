/**
 * Views of bytes as Buffers, made the cheap way: with the class of Node's
 * Buffers (`FastBuffer`, as `Buffer[Symbol.species]` gives it) over an
 * ArrayBuffer the caller already holds, skipping `subarray`'s argument
 * handling and its reads of `.buffer` and `.byteOffset` (a call each on
 * Node 20). The parser's payloads and the serializer's slab regions are
 * made here.
 */

type BufferViewConstructor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => Buffer;
const FastBuffer = (Buffer as unknown as { readonly [Symbol.species]: BufferViewConstructor })[Symbol.species];
const HAS_FAST_BUFFER = FastBuffer !== (Buffer as unknown);

/** A Buffer over `length` bytes of `buffer` from `byteOffset` (`Buffer.from` should a Node lack FastBuffer). */
export function bufferView(buffer: ArrayBufferLike, byteOffset: number, length: number): Buffer {
  return HAS_FAST_BUFFER ? new FastBuffer(buffer, byteOffset, length) : Buffer.from(buffer, byteOffset, length);
}
