// Canonical JSON and ids against the spec's vectors and against the
// binary's `eventstore hash` on random events; verifyEvent turning every
// alteration into an IntegrityError.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJSON, canonicalHead, dataHash, eventId, verifyEvent, IntegrityError } from '../dist/index.js';
import { hashWithBinary, pool } from './helpers.js';
import { loadVectors } from './vectors.js';
import { rng, randomEvent } from './random.js';

test('canonical JSON, dHash and _id reproduce every vector', async () => {
  let n = 0;
  for (const [set, vectors] of loadVectors()) {
    assert.ok(vectors.length >= 7, `${set}: ${vectors.length} vectors`);
    for (const v of vectors) {
      const where = `${set} ${v.name}`;
      assert.equal(canonicalJSON(v.event.o), v.canonicalO, where);
      assert.equal(await dataHash(v.event.o), v.dHash, where);
      assert.equal(canonicalHead({ ...v.event, dHash: v.dHash }), v.canonicalHead, where);
      assert.equal(await eventId({ ...v.event, dHash: v.dHash }), v._id, where);
      await verifyEvent({ ...v.event, _id: v._id, dHash: v.dHash, v: 2 });
      n++;
    }
  }
  assert.ok(n >= 11);
});

test('canonical JSON: the rules JSON.stringify alone would break', () => {
  assert.equal(canonicalJSON({ b: [1e21, 1e-7, -0, 100, 0.5], a: '\u0007\u001f\u007f' }), '{"a":"\\u0007\\u001f\u007f","b":[1e+21,1e-7,0,100,0.5]}');
  assert.equal(canonicalJSON({ '\ufb01': 1, '\ud83d\ude00': 2, é: 3 }), '{"é":3,"😀":2,"ﬁ":1}'); // UTF-16 order
  assert.throws(() => canonicalJSON({ a: '\ud800' }), /lone surrogate/);
  assert.throws(() => canonicalJSON({ a: NaN }), /not a JSON number/);
  assert.throws(() => canonicalJSON({ a: Infinity }), /not a JSON number/);
  assert.throws(() => canonicalJSON({ a: 1n }), /bigint/);
  assert.throws(() => canonicalJSON({ a: new Date(0) }), /Date/);
  assert.throws(() => canonicalJSON({ a: () => 1 }), /function/);
});

test('the ids of 300 random events agree with `eventstore hash`', async () => {
  const r = rng(20261207);
  const events = Array.from({ length: 300 }, () => randomEvent(r));
  const got = await Promise.all(events.map(async (e) => ({ dHash: await dataHash(e.o), _id: await eventId({ ...e, dHash: await dataHash(e.o) }) })));
  const want = await pool(events, 4, (e) => hashWithBinary(e));
  for (let i = 0; i < events.length; i++) {
    assert.deepEqual(got[i], want[i], `event ${i}: ${JSON.stringify(events[i])}`);
    await verifyEvent({ ...events[i], ...got[i], v: 2 });
  }
});

test('every alteration of a verified event is an IntegrityError', async () => {
  const [[, vectors]] = loadVectors();
  const v = vectors.find((x) => x.name === 'message');
  const good = { ...v.event, _id: v._id, dHash: v.dHash, v: 2, d: { anything: 'd is not hashed' }, isLeaf: true, sigs: { k: 's' } };
  await verifyEvent(good, { ct: 'room', cid: v.event.cid, id: v._id, t: 'msg' });
  const alterations = {
    'o changed': (e) => { e.o = { ...e.o, msg: 'hello, world!' }; },
    'o missing': (e) => { delete e.o; },
    'ts changed': (e) => { e.ts += 1; },
    'src changed': (e) => { e.src = 'b.example'; },
    'pids changed': (e) => { e.pids = []; },
    't changed': (e) => { e.t = 'msg2'; },
    'dHash changed with o': (e) => { e.o = { x: 1 }; },
    '_id changed': (e) => { e._id = e._id.replace(/^./, (c) => (c === '0' ? '1' : '0')); },
    'v changed': (e) => { e.v = 3; },
    'bad ct': (e) => { e.ct = 'Room'; },
  };
  for (const [what, alter] of Object.entries(alterations)) {
    const e = structuredClone(good);
    alter(e);
    await assert.rejects(verifyEvent(e), (err) => err instanceof IntegrityError && err.code === 'invalid_data', what);
  }
  // What it was not asked for is not data either.
  await assert.rejects(verifyEvent(good, { cid: 'other' }), /not of room\/other/);
  await assert.rejects(verifyEvent(good, { id: '0'.repeat(64) }), /not event/);
  await assert.rejects(verifyEvent(good, { clid: 'c-1' }), /clid/);
  // A deleted event keeps its hashed fields: its _id still verifies without o.
  const deleted = structuredClone(good);
  delete deleted.o;
  delete deleted.d;
  deleted.deletedAt = 1;
  await verifyEvent(deleted);
  deleted.ts++;
  await assert.rejects(verifyEvent(deleted), IntegrityError);
});
