/**
 * Duration options, checked one way everywhere: whole milliseconds a Node
 * timer can wait (it fires at once for anything above 2^31−1 ms), or
 * `Infinity` for "no limit" where the option allows it.
 */

/** Longest delay `setTimeout` honours. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * `value` when it is a whole number of milliseconds in `min`..2^31−1 (or
 * `Infinity`, unless `infinity` is false); a RangeError naming `name` otherwise.
 */
export function checkDuration(name: string, value: number, min: number, infinity = true): number {
  if (!(infinity && value === Infinity) && !(Number.isInteger(value) && value >= min && value <= MAX_TIMER_MS)) {
    throw new RangeError(`${name} must be a whole number of milliseconds from ${min} to 2^31-1${infinity ? ', or Infinity' : ''}; got ${value}`);
  }
  return value;
}
