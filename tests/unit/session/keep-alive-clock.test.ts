/** The shared keep-alive clock: one timer per interval, ticking every member, gone with the last. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { joinKeepAlive, leaveKeepAlive } from '../../../src/session/keep-alive-clock.ts';

const timers = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

test('members of one interval share one timer and are all ticked; the last to leave stops it', async () => {
  const before = timers();
  const ticks = [0, 0, 0];
  const members = ticks.map((_, i) => ({ keepAlive: () => void ticks[i]!++ }));
  for (const member of members) joinKeepAlive(member, 20);
  assert.is(timers(), before + 1, 'one timer for three members');
  await new Promise((resolve) => setTimeout(resolve, 70));
  assert.ok(ticks.every((n) => n >= 2 && n === ticks[0]), `ticked together: ${ticks}`);
  leaveKeepAlive(members[0]!, 20);
  const [first, second, third] = ticks;
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.is(ticks[0], first, 'a member that left is not ticked');
  assert.ok(ticks[1]! > second! && ticks[2]! > third!, 'the others still ticked');
  leaveKeepAlive(members[1]!, 20);
  leaveKeepAlive(members[2]!, 20);
  leaveKeepAlive(members[2]!, 20); // twice: a no-op
  assert.is(timers(), before, 'no timer left');
});

test('another interval has a clock of its own', () => {
  const before = timers();
  const member = { keepAlive: () => {} };
  joinKeepAlive(member, 1000);
  joinKeepAlive(member, 2000);
  assert.is(timers(), before + 2);
  leaveKeepAlive(member, 1000);
  leaveKeepAlive(member, 2000);
  assert.is(timers(), before);
});

test.run();
