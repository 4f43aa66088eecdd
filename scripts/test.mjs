#!/usr/bin/env node
// The one test command (`npm test`): build (dist/ and the examples, which some
// tests run as a user would), type check, every uvu test file in its own
// process, then a short fuzz pass (FUZZ_RUNS=300 unless set). Ends with
// the plain line "N passed, N failed" summed over all files, and exits
// non-zero on any failure.
//   node scripts/test.mjs [FILTER]   only files whose path contains FILTER (no build, no type check)
//   node scripts/test.mjs --fuzz     `npm run fuzz`: only fuzz/, FUZZ_RUNS default 100000
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const fuzzOnly = process.argv[2] === '--fuzz';
const onlyFilter = fuzzOnly ? 'fuzz/' : process.argv[2];
const FILE_TIMEOUT_MS = Number(process.env.TEST_FILE_TIMEOUT_MS ?? (fuzzOnly ? 3_600_000 : 300_000));
const FUZZ_RUNS = process.env.FUZZ_RUNS ?? (fuzzOnly ? '100000' : '300');

function listTests(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listTests(path));
    else if (/\.(test|prop)\.ts$/.test(name)) out.push(path);
  }
  return out;
}

let passed = 0;
let failed = 0;

if (!onlyFilter) {
  const build = spawnSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
  if (build.status !== 0) {
    console.error('build failed');
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  const tsc = spawnSync('npx', ['tsc', '--noEmit', '-p', 'tsconfig.json'], { stdio: 'inherit' });
  if (tsc.status === 0) passed++;
  else {
    failed++;
    console.error('typecheck failed');
  }
}

const files = [...listTests('tests'), ...listTests('fuzz')].filter(
  (f) => !onlyFilter || f.includes(onlyFilter),
);
for (const file of files) {
  const started = Date.now();
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--import', './tests/support/guard.ts', 'node_modules/uvu/bin.js', '.', file],
    {
      encoding: 'utf8',
      timeout: FILE_TIMEOUT_MS,
      maxBuffer: 64 * 1024 * 1024,
      stdio: fuzzOnly ? ['ignore', 'pipe', 'inherit'] : 'pipe',
      env: { ...process.env, FUZZ_RUNS, FORCE_COLOR: '0' },
    },
  );
  const output = (result.stdout ?? '') + (result.stderr ?? '');
  const total = Number(/Total:\s+(\d+)/.exec(output)?.[1] ?? 0);
  const ok = Number(/Passed:\s+(\d+)/.exec(output)?.[1] ?? 0);
  const guard = /GUARD: (\d+)/.exec(output);
  let fileFailed = total - ok + (guard ? Number(guard[1]) : 0);
  if (result.status !== 0 && fileFailed === 0) fileFailed = 1; // crashed, timed out or hung
  if (total === 0 && fileFailed === 0) fileFailed = 1; // a file that ran no test is a defect
  passed += ok;
  failed += fileFailed;
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`${fileFailed ? 'FAIL' : 'ok  '} ${file}  (${ok}/${total}, ${secs}s)`);
  if (fileFailed) {
    console.log(output.split('\n').map((l) => '    ' + l).join('\n'));
    if (result.error) console.log('    ' + String(result.error));
  }
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
