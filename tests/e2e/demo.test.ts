/**
 * `npm start` as a user runs it: the built demo server (build/examples/
 * demo-server.js) in its own process serves the page, echoes on /echo,
 * answers unknown paths with 404, and on SIGINT or SIGTERM closes every
 * session with 1001 and exits 0 (a second signal during that close, as
 * Ctrl-C under npm delivers, does not cut it short). With a certificate (TLS_CERT, TLS_KEY) it
 * serves HTTPS: WebSockets over HTTP/2 and HTTP/1.1 on its port, both
 * closed with 1001 on SIGTERM; TLS=1 alone makes a self-signed certificate.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UnexpectedStatusError } from '../../src/upgrade/client-errors.ts';
import { connect } from '../../src/upgrade/connect.ts';
import { selfSignedCertificate } from '../support/h2.ts';
import { freePort } from '../support/interop.ts';

async function startDemo(env: Record<string, string> = {}): Promise<{ child: ChildProcess; port: number; output: () => string }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['build/examples/demo-server.js'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', ...env },
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

test('the examples close once, on the first signal, and a second signal during that close does not kill the process (Ctrl-C under npm start signals twice)', async () => {
  const script = `
    import { onShutdownSignal } from './examples/on-shutdown-signal.ts';
    const alive = setInterval(() => {}, 1000);
    onShutdownSignal(async () => {
      console.log('closing');
      await new Promise((resolve) => setTimeout(resolve, 300));
      clearInterval(alive);
      console.log('closed');
    });
    console.log('ready');`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
  const exited = once(child, 'exit');
  while (!output.includes('ready')) await new Promise((resolve) => setTimeout(resolve, 10));
  child.kill('SIGINT');
  while (!output.includes('closing')) await new Promise((resolve) => setTimeout(resolve, 5));
  child.kill('SIGINT'); // in the middle of the close
  child.kill('SIGTERM');
  assert.equal(await exited, [0, null]);
  assert.equal(output.trim().split('\n'), ['ready', 'closing', 'closed']);
});

test('TLS with a given certificate: the page over HTTPS, WebSockets over HTTP/2 and HTTP/1.1 on one port, counted apart; SIGTERM closes both with 1001', async () => {
  const certificate = selfSignedCertificate();
  const dir = mkdtempSync(join(tmpdir(), 'demo-tls-'));
  writeFileSync(join(dir, 'cert.pem'), certificate.cert);
  writeFileSync(join(dir, 'key.pem'), certificate.key);
  try {
    const { child, port, output } = await startDemo({ TLS_CERT: join(dir, 'cert.pem'), TLS_KEY: join(dir, 'key.pem') });
    assert.match(output(), new RegExp(`demo server on https://127\\.0\\.0\\.1:${port}/ .*HTTP/2 and HTTP/1\\.1, certificate `));
    const tls = { ca: certificate.cert };
    const overH2 = await connect(`wss://127.0.0.1:${port}/chat`, { http2: true, tls });
    assert.equal(JSON.parse(String(await overH2.receive())), { type: 'stats', connections: 1, http2: 1, messages: 0 });
    const overH1 = await connect(`wss://127.0.0.1:${port}/chat`, { tls });
    assert.equal(JSON.parse(String(await overH1.receive())), { type: 'stats', connections: 2, http2: 1, messages: 0 });
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    assert.is((await overH2.closeReason).code, 1001);
    assert.is((await overH1.closeReason).code, 1001);
    const [code] = await exited;
    assert.is(code, 0, output());
    assert.match(output(), /2 session\(s\) closed with 1001, 0 dropped/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('TLS=1 without a certificate: a self-signed one for localhost, made at start', async () => {
  const { child, port, output } = await startDemo({ TLS: '1' });
  assert.match(output(), /self-signed certificate for localhost/);
  const session = await connect(`wss://localhost:${port}/echo`, { http2: true, tls: { rejectUnauthorized: false } });
  await session.send('hi');
  assert.is(await session.receive(), 'hi');
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  assert.is((await session.closeReason).code, 1001);
  assert.is((await exited)[0], 0, output());
});

test.run();
