/**
 * A deterministic stream of JSON chat messages for the permessage-deflate
 * benchmarks (bench/deflate.bench.ts, bench/deflate-e2e.bench.ts and its
 * client): ~1 KiB each (1024 to ~1160 bytes, so every one reaches the default
 * compression threshold of 1024), with varied fields — message and user ids,
 * user and display names from lists, rooms, rising timestamps, mentions,
 * reactions, sometimes a reply reference — and text drawn from a word list
 * with a Zipf-like distribution (frequent words often, rare ones seldom), as
 * chat text is. The same seed gives the same stream.
 */

const WORDS = (
  'the to and a of i you it is in that for we this on be with have can just so not but are was do if at ' +
  'what my will me all get up like one out about your know they there now good think time from how ' +
  'no yes ok okay thanks please sure maybe today tomorrow later tonight morning meeting call chat room ' +
  'message send sent reply thread channel server client build deploy release test tests merge branch ' +
  'review fix bug issue ticket feature design doc docs update version latest check checked looks great ' +
  'nice cool awesome agree disagree question answer idea plan week weekend friday monday lunch coffee ' +
  'team project customer support dashboard metrics latency throughput memory cpu error errors logs ' +
  'staging production rollback config flag migration database query index cache timeout retry socket ' +
  'websocket compression deflate frame payload browser mobile android ios desktop network slow fast ' +
  'working broken done started finished waiting blocked someone anyone everyone here there back again ' +
  'still already never always really very much more less than then because since while after before ' +
  'should would could might need want try tried see saw look make made take took give gave let run ran'
).split(' ');

const FIRST = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'mallory', 'niaj', 'olivia', 'peggy', 'rupert', 'sybil', 'trent', 'victor', 'walter', 'yara'];
const LAST = ['smith', 'jones', 'garcia', 'miller', 'davis', 'lopez', 'wilson', 'anderson', 'thomas', 'moore', 'martin', 'lee', 'walker', 'hall', 'young'];
const EMOJI = ['thumbsup', 'heart', 'laughing', 'eyes', 'tada', 'rocket', 'thinking', 'white_check_mark'];
const ROOMS = ['general', 'random', 'dev', 'ops', 'design', 'support', 'release', 'incidents', 'frontend', 'backend'];

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` messages of 1024 to ~1160 bytes of UTF-8 JSON (~1090 on average), the same for the same seed. */
export function chatMessages(count: number, seed = 42): Buffer[] {
  const random = prng(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  // Zipf (s = 1) over the word list by inverse CDF.
  const cdf: number[] = [];
  let total = 0;
  for (let i = 0; i < WORDS.length; i++) cdf.push((total += 1 / (i + 1)));
  const word = (): string => {
    const u = random() * total;
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cdf[mid] as number) < u) lo = mid + 1;
      else hi = mid;
    }
    return WORDS[lo] as string;
  };
  const out: Buffer[] = [];
  let ts = 1_700_000_000_000;
  for (let i = 0; i < count; i++) {
    ts += Math.floor(random() * 5000);
    const first = pick(FIRST);
    const last = pick(LAST);
    const mentions = Array.from({ length: Math.floor(random() * 3) }, () => `@${pick(FIRST)}`);
    const reactions = Array.from({ length: Math.floor(random() * 3) }, () => ({ emoji: pick(EMOJI), count: 1 + Math.floor(random() * 9) }));
    const message: Record<string, unknown> = {
      type: 'chat.message',
      id: `msg_${(0x10000000 + Math.floor(random() * 0xefffffff)).toString(16)}`,
      room: { id: `room_${pick(ROOMS)}`, unread: Math.floor(random() * 40) },
      user: { id: 1000 + Math.floor(random() * 90000), name: `${first}.${last}`, display: `${first[0]?.toUpperCase()}${first.slice(1)} ${last[0]?.toUpperCase()}${last.slice(1)}`, online: random() < 0.8 },
      ts,
      sent: new Date(ts).toISOString(),
      mentions,
      reactions,
      text: '',
    };
    if (random() < 0.3) message['replyTo'] = `msg_${(0x10000000 + Math.floor(random() * 0xefffffff)).toString(16)}`;
    // Fill the text until the JSON is at least `target` bytes (all words are ASCII).
    const target = 1024 + Math.floor(random() * 128);
    const base = Buffer.byteLength(JSON.stringify(message));
    const words: string[] = [];
    let length = 0;
    while (base + length < target) {
      let w = word();
      if (words.length === 0 || random() < 0.08) w = `${w[0]?.toUpperCase()}${w.slice(1)}`;
      if (random() < 0.06) w += pick(['.', ',', '?', '!']);
      length += w.length + (words.length > 0 ? 1 : 0);
      words.push(w);
    }
    message['text'] = words.join(' ');
    out.push(Buffer.from(JSON.stringify(message)));
  }
  return out;
}
