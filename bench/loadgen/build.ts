/**
 * Builds the C load generator (loadgen.c) with the machine's gcc into a
 * temporary directory, keyed by a hash of the source, so it is compiled once
 * per change and never lands in the work tree.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SOURCE = new URL('./loadgen.c', import.meta.url).pathname;

/** Path of the compiled load generator; throws with a clear message when gcc is missing or fails. */
export function buildLoadgen(): string {
  const source = readFileSync(SOURCE);
  const hash = createHash('sha1').update(source).digest('hex').slice(0, 12);
  const dir = join(tmpdir(), 'ktor-ws-ts-bench');
  const binary = join(dir, `loadgen-${hash}`);
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-o', binary, SOURCE], { stdio: ['ignore', 'inherit', 'inherit'] });
  } catch (error) {
    throw new Error(`building the C load generator failed (is gcc installed?): ${(error as Error).message}`);
  }
  return binary;
}
