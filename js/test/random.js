// Random events within the spec's rules (docs/hashing.md), from a
// seeded generator so that a failure can be run again: unicode of every
// plane, control characters, numbers of every spelling the rules allow,
// nesting, empty objects and arrays.

/** A small seeded generator (mulberry32). */
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  const pick = (xs) => xs[int(xs.length)];
  return { next, int, pick };
}

const chars = [
  'a', 'z', 'A', '0', ' ', '"', '\\', '/', '\n', '\t', '\b', '\f', '\r', '\u0000', '\u0001', '\u001f', '\u007f',
  'é', 'ß', '—', '€', '\u2028', '\u2029', 'ﬁ', '中', '😀', '𝄞', '\ud83d\udc4d', '\uffff', '\ufeff',
];

function str(r, max = 12) {
  let s = '';
  for (let n = r.int(max); n > 0; n--) s += r.pick(chars);
  return s;
}

function name(r) {
  // member names: not starting with $, no '.', no NUL
  for (;;) {
    const s = str(r, 6).replaceAll('.', '').replaceAll('\u0000', '');
    if (!s.startsWith('$')) return s;
  }
}

function number(r) {
  switch (r.int(9)) {
    case 0: return r.int(2000) - 1000;
    case 1: return (r.next() - 0.5) * 1e6;
    case 2: return Number.MAX_SAFE_INTEGER * (r.next() < 0.5 ? 1 : -1);
    case 3: return r.next() * 1e-7;
    case 4: return (r.next() < 0.5 ? -1 : 1) * (1e21 + r.int(1000) * 1e18) * 10 ** r.int(280);
    case 5: return 5e-324 * (1 + r.int(10));
    case 6: return r.next() < 0.5 ? 0 : -0;
    case 7: return Math.round(r.next() * 1e15) / 1e3;
    default: return r.next();
  }
}

function value(r, depth) {
  const k = depth >= 5 ? r.int(4) : r.int(6);
  switch (k) {
    case 0: return str(r);
    case 1: return number(r);
    case 2: return r.pick([true, false, null]);
    case 3: return r.int(3) === 0 ? [] : str(r, 3);
    case 4: return Array.from({ length: r.int(4) }, () => value(r, depth + 1));
    default: return object(r, depth + 1);
  }
}

function object(r, depth) {
  const o = {};
  for (let n = r.int(5); n > 0; n--) o[name(r)] = value(r, depth);
  return o;
}

const hex = (r) => Array.from({ length: 64 }, () => '0123456789abcdef'[r.int(16)]).join('');

/** A random event: its hashed fields and o. */
export function randomEvent(r) {
  const pids = [...new Set(Array.from({ length: r.int(4) }, () => hex(r)))].sort();
  const label = () => r.pick(['a', 'b-2', 'chat', 'x9']);
  return {
    src: Array.from({ length: 1 + r.int(3) }, label).join('.') + (r.int(3) === 0 ? ':' + (1 + r.int(65535)) : ''),
    ct: r.pick(['room', 'user', 'dm_2', 'a-b']),
    cid: r.pick(['general', 'R9', 'a.b:c@d-e_f', '0']),
    t: r.pick(['msg', 'message.sent', 'a.b-c.d9']),
    ts: r.int(2) ? Date.now() - r.int(1e9) : r.int(Number.MAX_SAFE_INTEGER),
    pids,
    o: object(r, 1),
  };
}
