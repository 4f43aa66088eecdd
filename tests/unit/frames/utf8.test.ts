/** The incremental UTF-8 validator on known cases, split at every position. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Utf8Validator, isValidUtf8 } from '../../../src/frames/index.ts';

/** [hex bytes, index of the first invalid byte or -1, ends on a boundary] */
const cases: [string, number, boolean][] = [
  ['', -1, true],
  ['48656c6c6f', -1, true],
  ['c2a9', -1, true],
  ['e282ac', -1, true],
  ['f09f9880', -1, true],
  ['f48fbfbf', -1, true],
  ['efbfbf', -1, true],
  ['c0af', 0, true],
  ['c1bf', 0, true],
  ['e08080', 1, true],
  ['e09f80', 1, true],
  ['eda080', 1, true],
  ['edbfbf', 1, true],
  ['f08f8080', 1, true],
  ['f4908080', 1, true],
  ['f5808080', 0, true],
  ['ff', 0, true],
  ['80', 0, true],
  ['c328', 1, true],
  ['61e282', -1, false],
  ['f09f98', -1, false],
  ['6161e2822861', 4, true],
];

test('whole input: first invalid byte and boundary', () => {
  for (const [hex, invalidAt, complete] of cases) {
    const bytes = Buffer.from(hex, 'hex');
    const v = new Utf8Validator();
    assert.is(v.push(bytes), invalidAt, hex);
    if (invalidAt === -1) assert.is(v.finish(), complete, hex);
    assert.is(isValidUtf8(bytes), invalidAt === -1 && complete, hex);
  }
});

test('every split into two pieces reports the same byte', () => {
  for (const [hex, invalidAt, complete] of cases) {
    const bytes = Buffer.from(hex, 'hex');
    for (let cut = 0; cut <= bytes.length; cut++) {
      const v = new Utf8Validator();
      const first = v.push(bytes, 0, cut);
      const found = first !== -1 ? first : v.push(bytes, cut, bytes.length);
      assert.is(found, invalidAt, `${hex} cut ${cut}`);
      if (found === -1) assert.is(v.finish(), complete, `${hex} cut ${cut}`);
    }
  }
});

test('long inputs take the native bulk path and still find the byte', () => {
  const text = Buffer.from('\u00e9t\u00e9 \u{1F600} '.repeat(200));
  const v = new Utf8Validator();
  assert.is(v.push(text), -1);
  assert.ok(v.finish());
  const bad = Buffer.from(text);
  bad[777] = 0xff;
  assert.is(new Utf8Validator().push(bad), 777);
  // A lead byte cut off at the end of the bulk, interrupted by another lead byte.
  const tricky = Buffer.concat([Buffer.alloc(40, 0x61), Buffer.from([0xe1, 0xe1, 0x80])]);
  assert.is(new Utf8Validator().push(tricky), 41);
});

test('reset forgets a pending sequence; finish resets too', () => {
  const v = new Utf8Validator();
  assert.is(v.push(Buffer.from([0xe2])), -1);
  v.reset();
  assert.is(v.push(Buffer.from([0x61])), -1);
  v.push(Buffer.from([0xe2]));
  assert.is(v.finish(), false);
  assert.is(v.finish(), true);
});

test.run();
