#!/usr/bin/env node
// `npm run build` (also run by `npm ci` and `npm pack` through `prepare`):
//   src/      -> dist/            the package: ES modules and .d.ts (tsconfig.build.json)
//   examples/ -> build/examples/  the demo, testee and Autobahn client as JavaScript importing the package
//                                 by name, so `npm start` runs the built package (tsconfig.examples.json)
// Both output folders are emptied first, so no file of a removed source survives.
import { spawnSync } from 'node:child_process';
import { copyFileSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

function compile(project) {
  const result = spawnSync(process.execPath, [tsc, '-p', project], { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

rmSync('dist', { recursive: true, force: true });
rmSync('build', { recursive: true, force: true });
compile('tsconfig.build.json');
compile('tsconfig.examples.json');
for (const name of readdirSync('examples')) {
  if (name.endsWith('.html')) copyFileSync(`examples/${name}`, `build/examples/${name}`);
}
