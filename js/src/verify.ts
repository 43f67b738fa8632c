// Verification on receipt (docs/hashing.md): an event's dHash is
// SHA-256 over the canonical JSON of its o, its _id SHA-256 over the
// canonical head {cid, ct, dHash, pids, src, t, ts}. Both are recomputed
// with WebCrypto, so an event altered on its way is an IntegrityError,
// not data. As the Go client's Event.Verify: a deleted event (deletedAt
// set) has no o, and only its _id is checked, against its stored dHash.

import { canonicalJSON, utf8 } from './canonical.js';
import { IntegrityError } from './errors.js';
import type { Event } from './types.js';

/** The schema version this client verifies. */
export const schemaVersion = 2;

const hex64 = /^[0-9a-f]{64}$/;
const ctPattern = /^[a-z][a-z0-9_-]{0,31}$/;
const cidPattern = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
const tPattern = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$/;
const srcPattern = /^[a-z0-9-]+(\.[a-z0-9-]+)*(:[0-9]{1,5})?$/;

/** Lowercase hex of SHA-256 over bytes, by WebCrypto (a secure context in a browser: https or localhost). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new Error('WebCrypto (crypto.subtle) is not available: a page must be served over https or from localhost');
  const digest = new Uint8Array(await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  let s = '';
  for (const b of digest) s += b.toString(16).padStart(2, '0');
  return s;
}

/** dHash of data o: SHA-256 of its canonical JSON; an absent o hashes as {}. */
export async function dataHash(o: unknown): Promise<string> {
  return sha256Hex(utf8(canonicalJSON(o ?? {})));
}

/** The hashed fields of an event other than o. */
export interface Head {
  src: string;
  ct: string;
  cid: string;
  t: string;
  ts: number;
  pids: string[];
  dHash: string;
}

/** The canonical head of an event: the text its _id hashes. */
export function canonicalHead(h: Head): string {
  return canonicalJSON({ cid: h.cid, ct: h.ct, dHash: h.dHash, pids: h.pids, src: h.src, t: h.t, ts: h.ts });
}

/** The _id of an event with these hashed fields. */
export async function eventId(h: Head): Promise<string> {
  return sha256Hex(utf8(canonicalHead(h)));
}

/** What a received event must also be: of this context, this event, this type, this clid. */
export interface Expect {
  ct?: string;
  cid?: string;
  id?: string;
  t?: string;
  clid?: string;
}

/** Why e's hashed fields break the spec's rules; '' if they do not. */
function headProblem(e: Event): string {
  if (!hex64.test(String(e._id))) return '_id is not 64 lowercase hex characters';
  if (typeof e.src !== 'string' || e.src.length > 255 || !srcPattern.test(e.src)) return `src ${JSON.stringify(e.src)} is not a server name`;
  const port = e.src.includes(':') ? Number(e.src.split(':')[1]) : 1;
  if (port < 1 || port > 65535) return `src ${JSON.stringify(e.src)} has a bad port`;
  if (typeof e.ct !== 'string' || !ctPattern.test(e.ct)) return `ct ${JSON.stringify(e.ct)} is not a context type`;
  if (typeof e.cid !== 'string' || !cidPattern.test(e.cid)) return `cid ${JSON.stringify(e.cid)} is not a context id`;
  if (typeof e.t !== 'string' || e.t.length > 64 || !tPattern.test(e.t)) return `t ${JSON.stringify(e.t)} is not an event type`;
  if (!Number.isSafeInteger(e.ts) || e.ts < 0) return `ts ${JSON.stringify(e.ts)} is not milliseconds in [0, 2^53-1]`;
  if (!hex64.test(String(e.dHash))) return 'dHash is not 64 lowercase hex characters';
  if (!Array.isArray(e.pids) || e.pids.length > 20) return 'pids is not a list of at most 20 ids';
  for (let i = 0; i < e.pids.length; i++) {
    const p = e.pids[i];
    if (typeof p !== 'string' || !hex64.test(p)) return `pids[${i}] is not an event id`;
    if (i > 0 && p <= e.pids[i - 1]!) return 'pids are not sorted and distinct';
  }
  return '';
}

/**
 * Checks that e's _id and dHash recompute from its fields and o, that its
 * hashed fields obey the spec, and that it is what `want` names. Throws an
 * IntegrityError saying what is wrong. d is not covered: it is the current
 * data, which updates change and no hash binds; nor are signatures, whose
 * keys a client lacks.
 */
export async function verifyEvent(e: Event, want: Expect = {}): Promise<void> {
  const fail = (why: string) => new IntegrityError(e, why);
  if (typeof e !== 'object' || e === null || Array.isArray(e)) throw fail('it is not an object');
  if (e.v !== schemaVersion) throw fail(`v ${JSON.stringify(e.v)}: this client verifies schema version ${schemaVersion}`);
  const bad = headProblem(e);
  if (bad) throw fail(bad);
  if (e.deletedAt === undefined) {
    if (typeof e.o !== 'object' || e.o === null || Array.isArray(e.o)) throw fail('o is missing');
    let got: string;
    try {
      got = await dataHash(e.o);
    } catch (err) {
      throw fail(`o: ${(err as Error).message}`);
    }
    if (got !== e.dHash) throw fail(`dHash ${e.dHash} does not match o (which hashes to ${got})`);
  }
  const id = await eventId(e);
  if (id !== e._id) throw fail(`_id ${e._id} does not match the event (which hashes to ${id})`);
  if ((want.ct !== undefined && e.ct !== want.ct) || (want.cid !== undefined && e.cid !== want.cid)) {
    throw fail(`it is of context ${e.ct}/${e.cid}, not of ${want.ct ?? e.ct}/${want.cid ?? e.cid}`);
  }
  if (want.id !== undefined && e._id !== want.id) throw fail(`it is not event ${want.id}, which was asked for`);
  if (want.t !== undefined && e.t !== want.t) throw fail(`its type is ${JSON.stringify(e.t)}, not ${JSON.stringify(want.t)}`);
  if (want.clid !== undefined && e.clid !== want.clid) throw fail(`its clid is ${JSON.stringify(e.clid)}, not ${JSON.stringify(want.clid)}`);
}
