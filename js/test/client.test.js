// Every REST call against the real server, problems as typed errors,
// retries as the Go client does them, and fresh client tokens.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client, EventStoreError, IntegrityError, expired } from '../dist/index.js';
import { startServer, startProxy, mintToken, clientKey } from './fixtures.js';

const admin = 'admin-secret-0123456789';
let srv;
let c;

before(async () => {
  srv = await startServer({ args: ['--token', `admin:${admin}`, '--client-token-key', clientKey] });
  c = new Client(srv.url, { token: admin });
});
after(async () => srv?.close());

test('every call of the API, as the server answers it', async () => {
  assert.deepEqual(await c.health(), { status: 'alive' });
  assert.deepEqual(await c.ready(), { status: 'ready' });
  assert.match(await c.openAPI(), /operationId: appendEvent/);
  assert.match(await c.metrics(), /eventstore_/);
  assert.ok(Array.isArray((await c.federationStatus()).peers));

  const genesis = await c.createContext('room', 'general', { t: 'room', o: { name: 'general' } });
  assert.equal(genesis.t, 'room');
  assert.deepEqual(genesis.pids, []);
  const first = await c.append('room', 'general', { t: 'msg', o: { msg: 'hello' }, clid: 'c-1' });
  assert.equal(first.created, true);
  assert.equal(first.event.clid, 'c-1');
  const again = await c.append('room', 'general', { t: 'msg', o: { msg: 'hello' }, clid: 'c-1' });
  assert.deepEqual([again.created, again.event._id], [false, first.event._id]);
  const ids = [genesis._id, first.event._id];
  for (let i = 0; i < 5; i++) ids.push((await c.append('room', 'general', { t: 'msg', o: { msg: `m${i}`, i } })).event._id);

  const summary = await c.context('room', 'general');
  assert.equal(summary.count, 7);
  assert.equal(summary.genesis, genesis._id);
  assert.deepEqual(await c.leaves('room', 'general'), [ids.at(-1)]);

  // The newest page, then back to the genesis; forward from the start.
  const newest = await c.list('room', 'general', { dir: 'b', limit: 3 });
  assert.deepEqual(newest.events.map((e) => e._id), ids.slice(-3).reverse());
  assert.ok(newest.next && newest.start);
  const back = [];
  for await (const e of c.events('room', 'general', { dir: 'b', limit: 2 })) back.push(e._id);
  assert.deepEqual(back, [...ids].reverse());
  const forward = [];
  for await (const e of c.events('room', 'general', { limit: 3 })) forward.push(e._id);
  assert.deepEqual(forward, ids);
  const msgs = await c.list('room', 'general', { t: 'msg', limit: 100 });
  assert.equal(msgs.events.length, 6);
  assert.equal(msgs.next, undefined);

  const got = await c.get('room', 'general', ids[3]);
  assert.deepEqual(got.o, { msg: 'm1', i: 1 });
  const up = await c.update('room', 'general', ids[3], { set: { msg: 'm1!', edited: true }, unset: ['i'] });
  assert.equal(up.t, 'event.update');
  assert.deepEqual((await c.get('room', 'general', ids[3])).d, { msg: 'm1!', edited: true });
  const del = await c.delete('room', 'general', ids[4]);
  assert.equal(del.t, 'event.delete');
  const gone = await c.get('room', 'general', ids[4]); // verifies without o: its _id is over dHash
  assert.ok(gone.deletedAt > 0 && gone.o === undefined && gone.d === undefined);
  const report = await c.audit('room', 'general');
  assert.equal(report.clean, true, JSON.stringify(report.problems));
  assert.equal(report.events, 9);
  await assert.rejects(c.share('room', 'general', 'nowhere.example'), (err) => err instanceof EventStoreError && err.status >= 400);
});

test('problems are EventStoreErrors with the server\'s code and status', async () => {
  await c.createContext('room', 'errors');
  const cases = [
    [() => c.get('room', 'nope', '0'.repeat(64)), 'not_found', 404],
    [() => c.createContext('room', 'errors'), 'context_exists', 409],
    [() => c.list('room', 'errors', { from: 'not-a-cursor' }), 'invalid_cursor', 400],
    [() => c.append('room', 'errors', { t: 'msg', o: {}, pids: ['0'.repeat(64)] }), 'conflict', 409],
    [() => c.append('room', 'errors', { t: 'Bad Type', o: {} }), 'invalid_request', 400],
    [() => c.append('room', 'errors', { t: 'msg', o: { $bad: 1 } }), 'invalid_data', 400],
    [() => new Client(srv.url).context('room', 'errors'), 'unauthorized', 401],
    [() => new Client(srv.url, { token: 'wrong' }).context('room', 'errors'), 'unauthorized', 401],
  ];
  for (const [call, code, status] of cases) {
    await assert.rejects(call(), (err) => {
      assert.ok(err instanceof EventStoreError, String(err));
      assert.deepEqual([err.code, err.status], [code, status], err.message);
      assert.equal(err.problem?.code, code);
      return true;
    });
  }
  await c.append('room', 'errors', { t: 'msg', o: { a: 1 }, clid: 'once' });
  await assert.rejects(c.append('room', 'errors', { t: 'msg', o: { a: 2 }, clid: 'once' }), { code: 'clid_conflict', status: 409 });
  const { event } = await c.append('room', 'errors', { t: 'msg', o: { a: 1 } });
  await c.delete('room', 'errors', event._id);
  await assert.rejects(c.delete('room', 'errors', event._id), { code: 'gone', status: 410 });
  await assert.rejects(c.update('room', 'errors', event._id, { set: { a: 2 } }), { code: 'gone', status: 410 });
});

test('retries: reads and appends with a clid again after 503 and dropped connections, nothing else', async () => {
  await c.createContext('room', 'retry');
  let failNext = 0;
  let mode = 'status';
  const proxy = await startProxy(srv.url, { fail: () => (failNext-- > 0 ? mode : undefined) });
  try {
    const p = new Client(proxy.url, { token: admin, retryBaseMs: 5 });
    for (mode of ['status', 'drop']) {
      failNext = 2;
      proxy.log.length = 0;
      assert.equal((await p.context('room', 'retry')).cid, 'retry', mode);
      assert.equal(proxy.log.length, 3, `${mode}: ${proxy.log}`);

      failNext = 3;
      proxy.log.length = 0;
      const { event } = await p.append('room', 'retry', { t: 'msg', o: { mode }, clid: `clid-${mode}` });
      assert.equal(proxy.log.length, 4);
      assert.equal(event.clid, `clid-${mode}`);

      failNext = 1;
      proxy.log.length = 0;
      await assert.rejects(p.append('room', 'retry', { t: 'msg', o: { mode, clid: false } }), { code: 'unavailable' });
      assert.equal(proxy.log.length, 1, 'an append without clid is sent once');
      failNext = 1;
      await assert.rejects(p.update('room', 'retry', event._id, { set: { x: 1 } }), { code: 'unavailable' });
      failNext = 1;
      await assert.rejects(p.delete('room', 'retry', event._id), { code: 'unavailable' });
    }
    // Four tries in all, then the last answer's problem.
    failNext = 100;
    mode = 'status';
    proxy.log.length = 0;
    await assert.rejects(p.leaves('room', 'retry'), { code: 'unavailable', status: 503 });
    assert.equal(proxy.log.length, 4);
    failNext = 0;
    const stored = await c.list('room', 'retry');
    assert.deepEqual(stored.events.map((e) => e.o.mode), [undefined, 'status', 'drop'], 'each clid append stored once');
  } finally {
    await proxy.close();
  }
});

test('an event altered on its way is an IntegrityError, not data', async () => {
  await c.createContext('room', 'altered');
  const { event } = await c.append('room', 'altered', { t: 'msg', o: { msg: 'pay alice 10' } });
  const proxy = await startProxy(srv.url, { alter: (e) => { if (e.o?.msg) e.o.msg = 'pay mallory 1000'; } });
  try {
    const p = new Client(proxy.url, { token: admin });
    await assert.rejects(p.get('room', 'altered', event._id), (err) => err instanceof IntegrityError && /dHash/.test(err.message));
    await assert.rejects(p.list('room', 'altered'), IntegrityError);
    await assert.rejects(p.append('room', 'altered', { t: 'msg', o: { msg: 'x' } }), IntegrityError);
    // Without verification the altered event would pass for data.
    const trusting = new Client(proxy.url, { token: admin, verify: false });
    assert.equal((await trusting.get('room', 'altered', event._id)).o.msg, 'pay mallory 1000');
  } finally {
    await proxy.close();
  }
});

test('a token function is asked again when its token expires or is refused', async () => {
  await c.createContext('room', 'tokens');
  // Expiry: a token of 8 s counts as expired 5 s before its exp.
  let calls = 0;
  let last;
  const short = new Client(srv.url, { token: async () => { calls++; return (last = await mintToken({ write: ['room/tokens'], ttl: '8s' })); } });
  await short.append('room', 'tokens', { t: 'msg', o: { n: 1 } });
  await short.context('room', 'tokens');
  assert.equal(calls, 1);
  const t0 = Date.now();
  while (!expired(last) && Date.now() - t0 < 10_000) {
    assert.equal(calls, 1);
    await new Promise((r) => setTimeout(r, 200));
  }
  await short.context('room', 'tokens');
  assert.equal(calls, 2, 'renewed once expired');

  // Refused: the first token may only read, the second may write.
  const tokens = [mintToken({ read: ['room/tokens'] }), mintToken({ write: ['room/tokens'] })];
  calls = 0;
  const refused = new Client(srv.url, { token: () => tokens[calls++] });
  const { created } = await refused.append('room', 'tokens', { t: 'msg', o: { n: 2 } });
  assert.equal(created, true);
  assert.equal(calls, 2);
  // A fresh token refused again is the caller's problem, after one renewal.
  calls = 0;
  const never = new Client(srv.url, { token: () => { calls++; return mintToken({ read: ['room/other'] }); } });
  await assert.rejects(never.context('room', 'tokens'), { code: 'forbidden', status: 403 });
  assert.equal(calls, 2);
});
