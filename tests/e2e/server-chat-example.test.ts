/**
 * The two chat examples as their users run them, each in a child process:
 * examples/chat-server.ts (the WebSocketServer object) and
 * examples/chat-server-ws.ts (the same room on `ws`). Both must behave the
 * same: a name is required (400), joins, messages and leaves reach everyone
 * as JSON, and SIGTERM closes every client with 1001 before the process
 * exits 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UnexpectedStatusError } from '../../src/upgrade/client-errors.ts';
import { connect } from '../../src/upgrade/connect.ts';
import type { DefaultWebSocketSession } from '../../src/session/default-session.ts';

/** Starts an example on a free port; resolves once it printed its URL. */
async function startExample(file: string): Promise<{ child: ChildProcess; port: number; output: () => string }> {
  // The built example (`npm run build`), as a user runs it.
  const child = spawn(process.execPath, [file.replace(/^examples\/(.*)\.ts$/, 'build/examples/$1.js')], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => (output += text));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (output += text));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} did not start: ${output}`)), 20_000);
    child.stdout?.on('data', () => {
      const match = /ws:\/\/127\.0\.0\.1:(\d+)\/chat/.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code}: ${output}`)));
  });
  return { child, port, output: () => output };
}

async function nextEvent(session: DefaultWebSocketSession): Promise<Record<string, unknown>> {
  return JSON.parse(String(await session.receive())) as Record<string, unknown>;
}

for (const file of ['examples/chat-server.ts', 'examples/chat-server-ws.ts']) {
  test(`${file}: name required, join / message / leave to everyone, SIGTERM → 1001 to every client → exit 0`, async () => {
    const { child, port, output } = await startExample(file);
    try {
      try {
        await connect(`ws://127.0.0.1:${port}/chat`);
        assert.unreachable('joined without a name');
      } catch (error) {
        assert.instance(error, UnexpectedStatusError);
        assert.is((error as UnexpectedStatusError).status, 400);
      }
      const ann = await connect(`ws://127.0.0.1:${port}/chat?name=ann`);
      assert.equal(await nextEvent(ann), { type: 'join', name: 'ann', count: 1 });
      const bob = await connect(`ws://127.0.0.1:${port}/chat?name=bob`);
      assert.equal(await nextEvent(ann), { type: 'join', name: 'bob', count: 2 });
      assert.equal(await nextEvent(bob), { type: 'join', name: 'bob', count: 2 });
      await bob.send('hello');
      assert.equal(await nextEvent(ann), { type: 'message', name: 'bob', text: 'hello' });
      assert.equal(await nextEvent(bob), { type: 'message', name: 'bob', text: 'hello' });
      const carl = await connect(`ws://127.0.0.1:${port}/chat?name=carl`);
      assert.equal(await nextEvent(carl), { type: 'join', name: 'carl', count: 3 });
      await carl.close();
      assert.equal(await nextEvent(ann), { type: 'join', name: 'carl', count: 3 });
      assert.equal(await nextEvent(ann), { type: 'leave', name: 'carl', count: 2 });

      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      assert.equal(await ann.closeReason, { code: 1001, reason: '' });
      assert.equal(await bob.closeReason, { code: 1001, reason: '' });
      const [code, signal] = await exited;
      assert.is(code, 0, output());
      assert.is(signal, null);
      assert.match(output(), /closed 2 sessions, 0 dropped/);
    } finally {
      child.kill('SIGKILL');
    }
  });
}

test.run();
