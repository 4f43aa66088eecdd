/** CopyRuns: small buffers copied back to back and handed out as a few views. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CopyRuns } from '../../src/channels/copy-runs.ts';

test('copies form one run until taken; runs are views of one slab', () => {
  const forced: Buffer[] = [];
  const copies = new CopyRuns(16, (run) => forced.push(run));
  assert.is(copies.takeRun(), undefined);
  copies.append(Buffer.from('ab'));
  copies.append(Buffer.from('cd'));
  const first = copies.takeRun()!;
  assert.is(first.toString(), 'abcd');
  copies.append(Buffer.from('ef'));
  const second = copies.takeRun()!;
  assert.is(second.toString(), 'ef');
  assert.is(second.buffer, first.buffer, 'same slab');
  assert.equal(forced, []);
});

test('a full slab forces the run so far out, then a fresh slab starts', () => {
  const forced: string[] = [];
  const copies = new CopyRuns(8, (run) => forced.push(run.toString()));
  copies.append(Buffer.from('12345'));
  copies.append(Buffer.from('6789'));
  assert.equal(forced, ['12345']);
  assert.is(copies.takeRun()!.toString(), '6789');
});

test('the caller keeps its bytes: later changes to the source do not reach the run', () => {
  const copies = new CopyRuns(8, () => {});
  const source = Buffer.from('xy');
  copies.append(source);
  source.fill(0);
  assert.is(copies.takeRun()!.toString(), 'xy');
});

test('rewind reuses the slab from its start', () => {
  const copies = new CopyRuns(8, () => {});
  copies.append(Buffer.from('old'));
  const old = copies.takeRun()!;
  copies.rewind();
  copies.append(Buffer.from('new'));
  const fresh = copies.takeRun()!;
  assert.is(fresh.byteOffset, old.byteOffset);
  assert.is(fresh.toString(), 'new');
});

test.run();
