/**
 * A small `npm run soak` inside `npm test`: 500 idle connections held by one
 * server process (each then echoes a message), then 20 connections x 500
 * messages as fast as possible, every echo checked by sequence number and
 * checksum: nothing lost, reordered or duplicated. Runs scripts/soak.ts in a
 * child process and reads its `SOAK {...}` line.
 */
import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

test('500 idle connections echo once; 20 x 500 messages: nothing lost, reordered or duplicated', () => {
  const run = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'scripts/soak.ts', '--idle', '500', '--conns', '20', '--messages', '500'],
    { encoding: 'utf8', timeout: 120_000 },
  );
  const line = /^SOAK (.*)$/m.exec(run.stdout)?.[1];
  assert.ok(line !== undefined, `no SOAK line; stdout: ${run.stdout} stderr: ${run.stderr}`);
  const report = JSON.parse(line) as {
    idle: { connections: number; echoed: number; heapPerConnection: number };
    load: { messages: number; echoed: number; lost: number; reordered: number; duplicated: number; checksumMismatches: number; failedConnections: number };
  };
  assert.is(report.idle.connections, 500);
  assert.is(report.idle.echoed, 500);
  assert.is(report.load.echoed, report.load.messages);
  assert.is(report.load.lost, 0);
  assert.is(report.load.reordered, 0);
  assert.is(report.load.duplicated, 0);
  assert.is(report.load.checksumMismatches, 0);
  assert.is(report.load.failedConnections, 0);
  assert.is(run.status, 0);
});

test.run();
