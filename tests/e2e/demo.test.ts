/**
 * `npm start` as a user runs it: the built demo server (build/examples/
 * demo-server.js) in its own process serves the page, echoes on /echo,
 * answers unknown paths with 404, and on SIGINT or SIGTERM closes every
 * session with 1001 and exits 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UnexpectedStatusError } from '../../src/upgrade/client-errors.ts';
import { connect } from '../../src/upgrade/connect.ts';
import { freePort } from '../support/interop.ts';

async function startDemo(): Promise<{ child: ChildProcess; port: number; output: () => string }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['build/examples/demo-server.js'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => (output += text));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (output += text));
  const deadline = Date.now() + 20_000;
  while (!output.includes('demo server on')) {
    if (child.exitCode !== null) throw new Error(`demo exited: ${output}`);
    if (Date.now() > deadline) throw new Error(`demo did not start: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { child, port, output: () => output };
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal}: every client gets 1001 and the process exits 0`, async () => {
    const { child, port, output } = await startDemo();
    const base = `ws://127.0.0.1:${port}`;
    const echo = await connect(`${base}/echo`);
    await echo.send('hi');
    assert.is(await echo.receive(), 'hi');
    const chat = await connect(`${base}/chat`);
    const stats = JSON.parse(String(await chat.receive())) as { type: string; connections: number };
    assert.equal(stats.type, 'stats');
    assert.is(stats.connections, 2);
    try {
      await connect(`${base}/nowhere`);
      assert.unreachable('an unknown path was upgraded');
    } catch (error) {
      assert.instance(error, UnexpectedStatusError);
      assert.is((error as UnexpectedStatusError).status, 404);
    }

    const exited = once(child, 'exit');
    child.kill(signal);
    assert.is((await echo.closeReason).code, 1001);
    assert.is((await chat.closeReason).code, 1001);
    const [code] = await exited;
    assert.is(code, 0, output());
    assert.match(output(), /2 session\(s\) closed with 1001, 0 dropped/);
  });
}

test.run();
