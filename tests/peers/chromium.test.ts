/**
 * A real browser against our server. Chromium is a client only (a page's
 * `WebSocket`), so there is one direction: our server, Chromium as the
 * client. The demo server (examples/demo-server.ts, built and run as its own
 * process, as `npm start` does) is driven by Debian's headless Chromium over
 * the DevTools protocol: the page's echo form and chat form are submitted
 * like a user would, and the test reads what the page received
 * (`window.demo`) and rendered. Two suites: plain HTTP (`npm start`), and
 * TLS (`TLS=1 npm start`, a self-signed certificate, Chromium with
 * --ignore-certificate-errors), where Chromium loads the page over HTTP/2
 * and opens its WebSockets as extended CONNECT streams of that connection
 * (RFC 8441): the demo's live counts, computed from
 * `session.request.httpVersion`, confirm it from the server's side. Fails
 * (never skips) when Chromium is missing: run scripts/install-peers.sh as
 * root.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connect } from '../../src/upgrade/connect.ts';
import { launchChromium, type Browser, type Page } from '../support/chromium.ts';
import { freePort } from '../support/interop.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Demo {
  echoes: string[];
  chat: string[];
  stats: { type: 'stats'; connections: number; http2: number; messages: number } | null;
  ready: number;
}

interface DemoProcess {
  readonly base: string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts the built demo (`npm start`'s `build/examples/demo-server.js`) on a
 * free port with `env` on top of ours; resolves once it says it listens.
 */
async function startDemo(env: Record<string, string> = {}): Promise<DemoProcess> {
  // The demo prints the PORT it was given, not the bound one, so PORT=0 would
  // not tell us where it listens: pick a free port first.
  const port = await freePort();
  const base = `${env.TLS === '1' ? 'https' : 'http'}://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(process.execPath, ['build/examples/demo-server.js'], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (output += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (output += s));
  const deadline = Date.now() + 20_000;
  while (!output.includes(`demo server on ${base}/`)) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`demo server exited: ${output}`);
    if (Date.now() > deadline) throw new Error(`demo server did not start: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return {
    base,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

const state = (page: Page): Promise<Demo> => page.evaluate<Demo>('JSON.parse(JSON.stringify(window.demo))');

/**
 * Opens a new WebSocket from the page to its origin's /echo (ws: or wss:
 * as the page was loaded) and sends one 512 KiB text, over the 16-bit
 * length form; true when the same text comes back.
 */
const bigEcho = (page: Page): Promise<boolean> =>
  page.evaluate<boolean>(
    `new Promise((resolve) => {
      const text = 'x'.repeat(512 * 1024);
      const socket = new WebSocket(location.origin.replace(/^http/, 'ws') + '/echo');
      socket.onopen = () => socket.send(text);
      socket.onmessage = (e) => { resolve(e.data === text); socket.close(1000); };
      socket.onerror = () => resolve(false);
    })`,
    { timeoutMs: 10_000 },
  );

/** Types `text` into the form's input and submits it the way the button does. */
async function submit(page: Page, form: 'echo' | 'chat', text: string): Promise<void> {
  await page.evaluate(
    `(() => {
      const input = document.getElementById(${JSON.stringify(`${form}-input`)});
      input.value = ${JSON.stringify(text)};
      document.getElementById(${JSON.stringify(`${form}-form`)}).requestSubmit();
      return input.value;
    })()`,
  );
}

const plain = suite('plain HTTP (npm start)');
let demo: DemoProcess | undefined;
let browser: Browser | undefined;
let first: Page;
let second: Page;

plain.before(async () => {
  demo = await startDemo();
  browser = await launchChromium();
});

plain.after(async () => {
  await browser?.close();
  await demo?.stop();
});

plain('the page loads from the demo server and opens both WebSockets (/echo and /chat)', async () => {
  first = await browser!.newPage(`${demo!.base}/`);
  assert.is(await first.evaluate<string>('document.title'), 'ktor-ws-ts demo');
  await first.waitFor('window.demo.ready === 2', 10_000);
  await first.waitFor('window.demo.stats !== null && window.demo.stats.connections === 2', 5000);
  const s = await state(first);
  assert.equal(s.stats, { type: 'stats', connections: 2, http2: 0, messages: 0 });
  assert.equal(first.errors, [], 'no uncaught exception in the page');
});

plain('Chromium offers permessage-deflate and the demo server accepts it, so the echoes below are compressed', async () => {
  const negotiated = await first.evaluate<string>('window.demo.extensions');
  assert.match(negotiated, /^permessage-deflate\b/);
});

plain('an echo typed into the form comes back and is rendered', async () => {
  const text = 'hello from Chromium — ünïcödé ✓ 😀';
  await submit(first, 'echo', text);
  await first.waitFor('window.demo.echoes.length === 1', 5000);
  assert.equal((await state(first)).echoes, [text]);
  assert.is(await first.evaluate<string>("document.getElementById('echo-input').value"), '', 'the form cleared its input');
  assert.equal(await first.evaluate<string[]>("[...document.querySelectorAll('#echo-log li')].map((li) => li.textContent)"), [
    `echo: ${text}`,
  ]);
  // A large echo (512 KiB, over the 16-bit length form) also round-trips.
  assert.ok(await bigEcho(first), 'the 512 KiB echo came back equal');
});

plain('a second tab makes 4 connections, receives the first tab\'s chat message (broadcast), and the counts agree', async () => {
  // The temporary socket of the previous test has closed.
  await first.waitFor('window.demo.stats.connections === 2', 5000);
  second = await browser!.newPage(`${demo!.base}/`);
  await second.waitFor('window.demo.ready === 2', 10_000);
  await first.waitFor('window.demo.stats.connections === 4', 5000);
  await second.waitFor('window.demo.stats !== null && window.demo.stats.connections === 4', 5000);

  await submit(first, 'chat', 'hi room, from tab 1');
  await first.waitFor('window.demo.chat.length === 1', 5000);
  await second.waitFor('window.demo.chat.length === 1', 5000);
  const a = await state(first);
  const b = await state(second);
  assert.equal(a.chat, ['hi room, from tab 1']);
  assert.equal(b.chat, ['hi room, from tab 1'], 'the other tab got the broadcast');
  assert.equal(b.echoes, [], "the echo of tab 1 was not broadcast");

  // Messages so far: 2 echoes (the form and the 512 KiB one) + 1 chat.
  await first.waitFor('window.demo.stats.messages === 3', 5000);
  await second.waitFor('window.demo.stats.messages === 3', 5000);
  assert.equal((await state(first)).stats, { type: 'stats', connections: 4, http2: 0, messages: 3 });
  assert.equal((await state(second)).stats, { type: 'stats', connections: 4, http2: 0, messages: 3 });
  assert.equal(await second.evaluate<string[]>("[...document.querySelectorAll('#chat-log li')].map((li) => li.textContent)"), [
    'hi room, from tab 1',
  ]);
  assert.match(await second.evaluate<string>("document.getElementById('stats').textContent"), /^4 open connection\(s\), 3 message\(s\)/);

  await submit(second, 'chat', 'and hello back from tab 2');
  await first.waitFor('window.demo.chat.length === 2', 5000);
  assert.equal((await state(first)).chat, ['hi room, from tab 1', 'and hello back from tab 2']);
});

plain('closing the second tab brings the count back to 2 in the first', async () => {
  await second.close();
  await first.waitFor('window.demo.stats.connections === 2', 5000);
  assert.equal((await state(first)).stats?.connections, 2);
  assert.equal(first.errors, []);
  await first.close();
});

plain.run();

const tls = suite('TLS (TLS=1 npm start): WebSockets over HTTP/2');
let secure: DemoProcess | undefined;
let tlsBrowser: Browser | undefined;
let tab: Page;

tls.before(async () => {
  secure = await startDemo({ TLS: '1' });
  tlsBrowser = await launchChromium({ args: ['--ignore-certificate-errors'] });
});

tls.after(async () => {
  await tlsBrowser?.close();
  await secure?.stop();
});

tls('the page loads over HTTP/2 and both WebSockets are streams of it: the server counts 2 of 2 over HTTP/2', async () => {
  tab = await tlsBrowser!.newPage(`${secure!.base}/`);
  assert.is(await tab.evaluate<string>("performance.getEntriesByType('navigation')[0].nextHopProtocol"), 'h2');
  await tab.waitFor('window.demo.ready === 2', 10_000);
  await tab.waitFor('window.demo.stats !== null && window.demo.stats.connections === 2', 5000);
  assert.equal((await state(tab)).stats, { type: 'stats', connections: 2, http2: 2, messages: 0 });
  assert.match(await tab.evaluate<string>("document.getElementById('stats').textContent"), /\(2 over HTTP\/2\)$/);
  assert.match(await tab.evaluate<string>('window.demo.extensions'), /^permessage-deflate\b/);
  assert.equal(tab.errors, []);
});

tls('echo over HTTP/2: the form, and a 512 KiB message on a new WebSocket', async () => {
  const text = 'over h2 — ünïcödé ✓ 😀';
  await submit(tab, 'echo', text);
  await tab.waitFor('window.demo.echoes.length === 1', 5000);
  assert.equal((await state(tab)).echoes, [text]);
  assert.ok(await bigEcho(tab), 'the 512 KiB echo came back equal');
  await tab.waitFor('window.demo.stats.connections === 2 && window.demo.stats.messages === 2', 5000);
  assert.is((await state(tab)).stats?.http2, 2);
});

tls('an HTTP/1.1 client on the same port counts as a connection but not over HTTP/2; chat reaches both', async () => {
  const overH1 = await connect(`${secure!.base.replace('https', 'wss')}/chat`, { tls: { rejectUnauthorized: false } });
  try {
    await tab.waitFor('window.demo.stats.connections === 3', 5000);
    assert.equal((await state(tab)).stats, { type: 'stats', connections: 3, http2: 2, messages: 2 });
    await submit(tab, 'chat', 'from the h2 tab');
    await tab.waitFor('window.demo.chat.length === 1', 5000);
    for (;;) {
      const event = JSON.parse(String(await overH1.receive())) as { type: string; text?: string };
      if (event.type === 'chat') {
        assert.is(event.text, 'from the h2 tab');
        break;
      }
    }
  } finally {
    await overH1.close();
  }
  await tab.waitFor('window.demo.stats.connections === 2', 5000);
  await tab.close();
});

tls.run();
