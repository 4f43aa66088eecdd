/**
 * The Chromium helper itself (tests/support/chromium.ts): launches Debian's
 * headless Chromium, loads a page served from node:http on 127.0.0.1 and reads
 * values the page computed. Fails (never skips) when Chromium is missing:
 * run scripts/install-peers.sh as root.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { launchChromium, type Browser } from '../../support/chromium.ts';

const HTML = `<!doctype html>
<html><head><title>helper-check</title></head>
<body>
<script>
  window.sum = [1, 2, 3, 4].reduce((a, b) => a + b, 0);
  document.body.dataset.ready = 'no';
  console.log('page says', 'hello');
  setTimeout(() => { window.later = { answer: 42 }; document.body.dataset.ready = 'yes'; }, 150);
</script>
</body></html>`;

/** PIDs in process group `pgid` that are not zombies (from /proc/<pid>/stat). */
function liveProcessesInGroup(pgid: number): number[] {
  const live: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp ..." -- comm may contain spaces/parens
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') live.push(Number(name));
  }
  return live;
}

let server: Server;
let base: string;
let browser: Browser;

test.before(async () => {
  server = createServer((req, res) => {
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(HTML);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launchChromium();
});

test.after(async () => {
  await browser?.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test('launches Debian Chromium with a DevTools endpoint on loopback', () => {
  assert.match(browser.wsEndpoint, /^ws:\/\/127\.0\.0\.1:\d+\/devtools\/browser\//);
  assert.match(browser.version, /Chrome\/\d+/);
});

test('evaluate() reads what the page computed, waitFor() waits for later state', async () => {
  const page = await browser.newPage(`${base}/`);
  assert.is(await page.evaluate<string>('document.title'), 'helper-check');
  assert.is(await page.evaluate<number>('window.sum'), 10);
  // awaitPromise + returnByValue: promises are awaited, objects come back as JSON values
  assert.equal(await page.evaluate('Promise.resolve({ a: [1, "x"], b: null })'), { a: [1, 'x'], b: null });
  const later = await page.waitFor<{ answer: number }>('window.later', 5000);
  assert.equal(later, { answer: 42 });
  assert.is(await page.evaluate('document.body.dataset.ready'), 'yes');
  assert.ok(page.console.includes('log: page says hello'), page.console.join('\n'));
  await page.close();
});

test('evaluate() rejects on a page exception; waitFor() times out with a reason', async () => {
  const page = await browser.newPage(`${base}/`);
  try {
    await page.evaluate('(() => { throw new Error("boom") })()');
    assert.unreachable('should have thrown');
  } catch (error) {
    assert.instance(error, Error);
    assert.match((error as Error).message, /boom/);
  }
  const started = Date.now();
  try {
    await page.waitFor('window.neverSet', 300);
    assert.unreachable('should have timed out');
  } catch (error) {
    assert.match((error as Error).message, /timed out after 300 ms/);
  }
  assert.ok(Date.now() - started < 3000);
  await page.close();
});

test('goto() rejects when nothing listens', async () => {
  const page = await browser.newPage();
  try {
    await page.goto('http://127.0.0.1:1/');
    assert.unreachable('should have failed');
  } catch (error) {
    assert.match((error as Error).message, /ERR_CONNECTION_REFUSED|failed/);
  }
  await page.close();
});

test('close() ends the process and removes the profile dir', async () => {
  const extra = await launchChromium();
  const profile = /--user-data-dir=(\S+)/.exec(
    readFileSync(`/proc/${extra.pid}/cmdline`, 'utf8').split('\0').join(' '),
  )?.[1];
  assert.ok(profile && existsSync(profile), `profile dir ${profile}`);
  await extra.close();
  await extra.close(); // idempotent
  assert.not.ok(existsSync(profile!), 'profile dir removed');
  // Zombies are ignored: they are not ours to reap once re-parented (in some
  // sandboxes PID 1 never reaps them). Anything still running would be a leak.
  assert.equal(liveProcessesInGroup(extra.pid), [], 'no live process left in the Chromium process group');
});

test.run();
