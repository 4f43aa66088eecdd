/** CopyRuns: small buffers copied back to back and handed out as a few views. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CopyRuns } from '../../../src/channels/copy-runs.ts';

test('copies form one run until taken; runs are views of one slab', () => {
  const copies = new CopyRuns(16);
  assert.is(copies.takeRun(), undefined);
  assert.is(copies.append(Buffer.from('ab')), undefined);
  assert.is(copies.append(Buffer.from('cd')), undefined);
  const first = copies.takeRun()!;
  assert.is(first.toString(), 'abcd');
  assert.is(copies.append(Buffer.from('ef')), undefined);
  const second = copies.takeRun()!;
  assert.is(second.toString(), 'ef');
  assert.is(second.buffer, first.buffer, 'same slab');
});

test('a full slab returns the run so far, then a fresh slab starts', () => {
  const copies = new CopyRuns(8);
  assert.is(copies.append(Buffer.from('12345')), undefined);
  assert.is(copies.append(Buffer.from('6789'))?.toString(), '12345');
  assert.is(copies.takeRun()!.toString(), '6789');
});

test('the caller keeps its bytes: later changes to the source do not reach the run', () => {
  const copies = new CopyRuns(8);
  const source = Buffer.from('xy');
  copies.append(source);
  source.fill(0);
  assert.is(copies.takeRun()!.toString(), 'xy');
});

test.run();
