/**
 * The wide XOR behind masking long ranges: a 138-byte WebAssembly module,
 * written out byte by byte below, that XORs a range of its own memory with
 * a 32-bit key in 128-bit SIMD lanes, 64 bytes per loop turn. A range is
 * copied into that memory, XORed there and copied out, 64 KiB at a time,
 * back in place or into another buffer (so masking while copying costs no
 * more than masking in place): two native copies and a vector loop. Its
 * fixed cost (two views, two copies, a call: about 100 ns) is repaid from
 * about 1 KiB; in place it beats the 64-bit JavaScript loop by a little
 * (16 KiB: 1.04 against 1.26 µs; 64 KiB: 4.4 against 4.5 µs, of which the
 * two copies are 3 µs), into another buffer by the copy it saves.
 *
 * The block the copies go through starts half a page into the module's
 * memory (`SCRATCH_AT`), not at its page-aligned start: a copy between two
 * addresses at the same offset in their 4 KiB pages runs 10–15 times slower
 * on some CPUs (measured on AMD EPYC: 23 µs instead of 1.5 µs for 64 KiB),
 * and Node's large Buffers (a gathered 1 MiB message) start a few bytes into
 * a page, which a block at offset 0 met on every copy.
 *
 * The module's text form:
 *
 *     (module
 *       (memory (export "memory") 2)
 *       (func (export "xor") (param $p i32) (param $n i32) (param $k i32)
 *         (local $kv v128)
 *         (local.set $kv (i32x4.splat (local.get $k)))
 *         (loop $l
 *           (v128.store offset=0  (local.get $p) (v128.xor (v128.load offset=0  (local.get $p)) (local.get $kv)))
 *           (v128.store offset=16 (local.get $p) (v128.xor (v128.load offset=16 (local.get $p)) (local.get $kv)))
 *           (v128.store offset=32 (local.get $p) (v128.xor (v128.load offset=32 (local.get $p)) (local.get $kv)))
 *           (v128.store offset=48 (local.get $p) (v128.xor (v128.load offset=48 (local.get $p)) (local.get $kv)))
 *           (br_if $l (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 64))) (local.get $n))))))
 *
 * `xor(p, n, k)` XORs bytes `[p, n)` rounded up to 64 past `p` (so `n` > `p`;
 * the bytes past `n` are scratch) with `k`, little-endian: the byte
 * `k & 0xff` goes to offsets `p`, `p + 4`, ... Compiled once, synchronously,
 * when this module loads; where WebAssembly or its SIMD is missing
 * (`node --jitless`, a CPU without SSE4.1), `wideXor` is undefined and
 * masking stays in JavaScript.
 */

/** One `v128.load`/`xor`/`store` step at byte offset `offset` of `$p` (local 0), key in local 3. */
const xorStep = (offset: number): number[] => [
  0x20, 0x00, //             local.get $p      (the store's address)
  0x20, 0x00, //             local.get $p
  0xfd, 0x00, 0x04, offset, // v128.load align=16 offset
  0x20, 0x03, //             local.get $kv
  0xfd, 0x51, //             v128.xor
  0xfd, 0x0b, 0x04, offset, // v128.store align=16 offset
];

const BODY = [
  0x01, 0x01, 0x7b, // locals (past the three parameters): one v128 ($kv)
  0x20, 0x02, 0xfd, 0x11, 0x21, 0x03, // $kv = i32x4.splat($k)
  0x03, 0x40, // loop (no result)
  ...xorStep(0x00),
  ...xorStep(0x10),
  ...xorStep(0x20),
  ...xorStep(0x30),
  0x20, 0x00, 0x41, 0xc0, 0x00, 0x6a, 0x22, 0x00, // local.tee $p ($p + 64)
  0x20, 0x01, 0x49, 0x0d, 0x00, // br_if 0 (the loop) when $p < $n, unsigned
  0x0b, // end of loop
  0x0b, // end of function
];

const MODULE_BYTES = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
  0x01, 0x07, 0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00, // type section: one type, (i32, i32, i32) -> ()
  0x03, 0x02, 0x01, 0x00, // function section: one function, of type 0
  0x05, 0x03, 0x01, 0x00, 0x02, // memory section: one memory, 2 pages (128 KiB), no maximum
  0x07, 0x10, 0x02, // export section (16 bytes), two exports:
  0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, //   "memory": memory 0
  0x03, 0x78, 0x6f, 0x72, 0x00, 0x00, //   "xor": function 0
  0x0a, BODY.length + 2, 0x01, BODY.length, // code section: one body
  ...BODY,
]);

/** Ranges are XORed this many bytes at a time (a multiple of 4: the key's phase carries over). */
const BLOCK = 65536;
/** Where the block starts in the module's memory: half a page in (see the header), a multiple of 64. */
const SCRATCH_AT = 2048;

/** The slice of the WebAssembly API used here (this project's `lib` has no DOM types). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: { memory: { buffer: ArrayBuffer }; xor: (p: number, n: number, key: number) => void } };
}

function compile(): ((src: Uint8Array, dst: Uint8Array, dstOffset: number, key: number) => void) | undefined {
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (wasm === undefined) return undefined; // node --jitless: the caller's JavaScript loop does the work
  let exports;
  try {
    exports = new wasm.Instance(new wasm.Module(MODULE_BYTES)).exports;
  } catch {
    return undefined; // no SIMD, code generation disallowed, or no memory to reserve: the same
  }
  const { xor } = exports;
  const memory = exports.memory.buffer; // never grows: the module has no memory.grow
  const scratch = new Uint8Array(memory, SCRATCH_AT, BLOCK);
  return (src, dst, dstOffset, key) => {
    // `key` is big-endian (its top byte goes to `src[0]`); the module wants it little-endian.
    const le = (key >>> 24) | ((key >>> 8) & 0xff00) | ((key & 0xff00) << 8) | (key << 24);
    for (let at = 0; at < src.length; at += BLOCK) {
      const n = Math.min(src.length - at, BLOCK);
      scratch.set(at === 0 && n === src.length ? src : src.subarray(at, at + n));
      xor(SCRATCH_AT, SCRATCH_AT + n, le);
      // A plain view of the block's first n bytes (cheaper than `subarray`, which looks up a species).
      dst.set(n === BLOCK ? scratch : new Uint8Array(memory, SCRATCH_AT, n), dstOffset + at);
    }
  };
}

/**
 * Writes `src` (non-empty) XORed with the packed key `key`, whose top byte
 * applies to `src[0]` (see `packMaskKey` in mask.ts), into `dst` at
 * `dstOffset`; `dst` may be `src`'s own buffer at `src`'s place (masking in
 * place). Undefined where WebAssembly SIMD is unavailable.
 */
export const wideXor = compile();
