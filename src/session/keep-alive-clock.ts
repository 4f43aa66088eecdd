/**
 * One timer per keep-alive interval for the whole process, not one per
 * session (as `ws` users run one `setInterval` over `clients`): every
 * session whose keep-alive pings every `intervalMs` is a member of that
 * interval's clock, ticked together. The timer exists while the clock has
 * members. A session's first ping comes within one interval of joining.
 */

/** What a clock ticks. */
export interface KeepAliveMember {
  keepAlive(): void;
}

interface Clock {
  readonly members: Set<KeepAliveMember>;
  timer: NodeJS.Timeout | undefined;
}

const clocks = new Map<number, Clock>();

/** Ticks `member` every `intervalMs` (a whole number of milliseconds, at least 1) until `leave`. */
export function joinKeepAlive(member: KeepAliveMember, intervalMs: number): void {
  let clock = clocks.get(intervalMs);
  if (clock === undefined) {
    clock = { members: new Set(), timer: undefined };
    clocks.set(intervalMs, clock);
  }
  clock.members.add(member);
  if (clock.timer === undefined) {
    const members = clock.members;
    clock.timer = setInterval(() => {
      for (const each of members) each.keepAlive();
    }, intervalMs);
  }
}

/** Stops ticking `member` (a no-op if it is not a member); the last one out stops the timer. */
export function leaveKeepAlive(member: KeepAliveMember, intervalMs: number): void {
  const clock = clocks.get(intervalMs);
  if (clock === undefined || !clock.members.delete(member) || clock.members.size > 0) return;
  clearInterval(clock.timer);
  clocks.delete(intervalMs);
}
