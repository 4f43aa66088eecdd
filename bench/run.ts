/**
 * `npm run bench`: runs every `bench/*.bench.ts` in its own process, one after
 * another (so one benchmark's garbage does not slow the next). Each file
 * prints its own table; BENCH_QUICK=1 asks each for a reduced matrix.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildServers } from './servers/build.ts';

const dir = new URL('.', import.meta.url).pathname;
const only = process.argv[2];
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts') && (!only || f.includes(only)))
  .sort();
buildServers(); // once, for every benchmark process (they inherit the environment that says so)
let failures = 0;
for (const file of files) {
  console.log(`\n=== ${file} ===`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', join(dir, file)], {
    stdio: 'inherit',
  });
  if (r.status !== 0) failures++;
}
process.exit(failures ? 1 : 0);
