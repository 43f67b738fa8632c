// Canonical JSON (RFC 8785, JCS) as docs/hashing.md fixes it: no
// white space; members sorted by the UTF-16 code units of their names;
// strings escaped only for '"', '\' and control characters; numbers as
// ECMAScript writes a double. The spec was written to match ECMAScript's
// own JSON.stringify for strings and numbers, so those are its output;
// what is checked here is what JSON.stringify would let through.

/** The canonical JSON text of a JSON value. Throws a TypeError for what is not JSON data. */
export function canonicalJSON(value: unknown): string {
  const out: string[] = [];
  write(value, out, 0, '');
  return out.join('');
}

/** Nesting deeper than this is refused (the spec allows 32 levels of data). */
const maxDepth = 64;

function write(v: unknown, out: string[], depth: number, where: string): void {
  if (v === null) {
    out.push('null');
    return;
  }
  switch (typeof v) {
    case 'boolean':
      out.push(v ? 'true' : 'false');
      return;
    case 'number':
      if (!Number.isFinite(v)) throw new TypeError(`${where || '/'}: ${v} is not a JSON number`);
      out.push(JSON.stringify(v)); // Number::toString; -0 is written 0
      return;
    case 'string':
      out.push(quote(v, where));
      return;
    case 'object':
      break;
    default:
      throw new TypeError(`${where || '/'}: a ${typeof v} is not JSON data`);
  }
  if (depth >= maxDepth) throw new TypeError(`${where}: nested deeper than ${maxDepth} levels`);
  if (Array.isArray(v)) {
    out.push('[');
    v.forEach((item, i) => {
      if (i > 0) out.push(',');
      write(item, out, depth + 1, `${where}/${i}`);
    });
    out.push(']');
    return;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) {
    throw new TypeError(`${where || '/'}: a ${proto?.constructor?.name ?? 'object'} is not JSON data`);
  }
  const obj = v as Record<string, unknown>;
  // The default sort compares strings by UTF-16 code units, as JCS does.
  const names = Object.keys(obj).sort();
  out.push('{');
  let first = true;
  for (const name of names) {
    const member = obj[name];
    if (member === undefined) continue; // as JSON.stringify: an absent member
    if (!first) out.push(',');
    first = false;
    out.push(quote(name, where), ':');
    write(member, out, depth + 1, `${where}/${name.replaceAll('~', '~0').replaceAll('/', '~1')}`);
  }
  out.push('}');
}

function quote(s: string, where: string): string {
  if (!s.isWellFormed()) throw new TypeError(`${where || '/'}: a string with a lone surrogate is not valid data`);
  return JSON.stringify(s);
}

/** The UTF-8 bytes of canonical JSON text. */
export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
