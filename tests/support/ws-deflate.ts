/**
 * `ws`'s own permessage-deflate codec (a dev dependency), as an independent
 * peer implementation for tests and benchmarks. It is not exported by the
 * package nor typed by @types/ws, so it is loaded from beside ws's entry point.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface WsPerMessageDeflate {
  accept(offers: Array<Record<string, Array<string | true>>>): unknown;
  compress(data: Buffer, fin: boolean, callback: (error: Error | null, result?: Buffer) => void): void;
  decompress(data: Buffer, fin: boolean, callback: (error: Error | null, result?: Buffer) => void): void;
  cleanup(): void;
}

const requireCjs = createRequire(import.meta.url);

export const WsDeflate = requireCjs(join(dirname(requireCjs.resolve('ws')), 'lib', 'permessage-deflate.js')) as new (
  options: object,
) => WsPerMessageDeflate;
