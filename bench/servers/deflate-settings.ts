/**
 * The permessage-deflate settings every process of the compressed echo
 * benchmark (bench/deflate-e2e.bench.ts) uses, so that our server, ws's
 * server and the ws client compress alike: these are ws's defaults written
 * out (`perMessageDeflate: true` means threshold 1024, zlib's default level
 * and memLevel, 15-bit windows, 10 zlib operations at once per process) and
 * also ours (PERMESSAGE_DEFLATE_DEFAULTS, DEFAULT_ZLIB_CONCURRENCY).
 *
 * The servers read the mode from BENCH_DEFLATE: `takeover` (context
 * takeover both ways) or `no-takeover` (server_no_context_takeover and
 * client_no_context_takeover); unset, they run without permessage-deflate.
 */
import zlib from 'node:zlib';

export const DEFLATE_SETTINGS = {
  /** zlib's default compression level (6). */
  level: zlib.constants.Z_DEFAULT_COMPRESSION,
  /** zlib's default memLevel. */
  memLevel: 8,
  /** Messages of at least this many bytes are compressed. */
  threshold: 1024,
  /** zlib operations at once per process. */
  concurrency: 10,
} as const;

export type DeflateMode = 'takeover' | 'no-takeover';

/** The mode a benchmark server was started with, or `undefined` for no compression. */
export function deflateModeFromEnv(): DeflateMode | undefined {
  const mode = process.env['BENCH_DEFLATE'];
  if (mode === undefined || mode === '') return undefined;
  if (mode !== 'takeover' && mode !== 'no-takeover') throw new Error(`BENCH_DEFLATE must be takeover or no-takeover, got ${mode}`);
  return mode;
}

/** ws's `perMessageDeflate` option (server or client) for `mode`. */
export function wsDeflateOptions(mode: DeflateMode) {
  const noTakeover = mode === 'no-takeover';
  return {
    threshold: DEFLATE_SETTINGS.threshold,
    concurrencyLimit: DEFLATE_SETTINGS.concurrency,
    zlibDeflateOptions: { level: DEFLATE_SETTINGS.level, memLevel: DEFLATE_SETTINGS.memLevel },
    serverNoContextTakeover: noTakeover,
    clientNoContextTakeover: noTakeover,
  };
}
