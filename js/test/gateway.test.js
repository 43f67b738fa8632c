// The gateway client against the real server: identify, subscribe, append,
// update and delete answered by nonce, refusals, and resuming after a
// dropped connection, slow_consumer (from the server's cursors) and an
// expired client token. Node needs --experimental-websocket for its
// WebSocket (npm test gives it).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client, EventStoreError, IntegrityError } from '../dist/index.js';
import { startServer, startProxy, mintToken, clientKey, until } from './fixtures.js';

const admin = 'admin-secret-0123456789';
let srv;
let c;

before(async () => {
  assert.equal(typeof WebSocket, 'function', 'run node with --experimental-websocket');
  srv = await startServer({ args: ['--token', `admin:${admin}`, '--client-token-key', clientKey, '--gateway-heartbeat', '2s'] });
  c = new Client(srv.url, { token: admin });
});
after(async () => srv?.close());

/** Collects what a gateway delivers, until stop(). */
function collect(gw) {
  const got = [];
  const done = (async () => { for await (const m of gw) got.push(m); })();
  return { got, done, events: () => got.filter((m) => m.kind === 'event') };
}

test('gateway: subscribe, append, update and delete by nonce; events as dispatches', async () => {
  const genesis = await c.createContext('room', 'gw');
  const old = (await c.append('room', 'gw', { t: 'msg', o: { msg: 'before' } })).event;
  const token = await mintToken({ sub: 'bob', write: ['room/gw', 'room/nope'], read: ['room/gw-read'] });
  const gw = new Client(srv.url, { token }).gateway({ clientId: 'tab-1', subscribe: [{ ct: 'room', cid: 'gw', from: 'start' }] });
  const { got, done, events } = collect(gw);
  await gw.connect();
  await until(() => events().length === 2, 5000, 'the history');
  assert.deepEqual(events().map((m) => m.event._id), [genesis._id, old._id]);
  assert.equal(got[0].kind, 'ready');

  const sent = await gw.append('room', 'gw', { t: 'msg', o: { msg: 'hi' }, clid: 'g-1' });
  assert.equal(sent.clid, 'g-1');
  const repeat = await gw.append('room', 'gw', { t: 'msg', o: { msg: 'hi' }, clid: 'g-1' });
  assert.equal(repeat._id, sent._id, 'a clid repeated gives the first event');
  const up = await gw.update('room', 'gw', sent._id, { set: { msg: 'hi!' } });
  const del = await gw.delete('room', 'gw', old._id);
  assert.deepEqual([up.t, del.t], ['event.update', 'event.delete']);
  await until(() => events().length === 5, 5000, 'the live events');
  assert.deepEqual(events().slice(2).map((m) => m.event._id), [sent._id, up._id, del._id]);
  assert.ok(events().every((m) => m.cursor));

  // Refusals answer the request; the connection stays.
  await assert.rejects(gw.append('room', 'nope', { t: 'msg', o: {} }), { code: 'not_found', status: 404 });
  await assert.rejects(gw.append('room', 'gw-read', { t: 'msg', o: {} }), { code: 'forbidden', status: 403 });
  await assert.rejects(gw.subscribe('room', 'secret'), { code: 'forbidden' });
  await assert.rejects(gw.update('room', 'gw', old._id, { set: { a: 1 } }), { code: 'gone', status: 410 });
  await assert.rejects(gw.subscribe('room', 'gw-read'), { code: 'not_found' }); // no such room
  await c.createContext('room', 'gw-read');
  await gw.subscribe('room', 'gw-read', 'start');
  await until(() => events().length === 6, 5000, 'the subscribed room');
  assert.equal(events()[5].event.cid, 'gw-read');
  assert.deepEqual(Object.keys(gw.cursors()).sort(), ['room/gw', 'room/gw-read']);
  gw.close();
  await done;
});

test('gateway: a refused identify fails connect()', async () => {
  await assert.rejects(new Client(srv.url, { token: 'wrong' }).gateway({ clientId: 'x' }).connect(), { code: 'unauthorized' });
  let calls = 0;
  const reader = new Client(srv.url, { token: () => { calls++; return mintToken({ read: ['room/gw'] }); } });
  await assert.rejects(reader.gateway({ clientId: 'x', subscribe: [{ ct: 'room', cid: 'secret' }] }).connect(), { code: 'forbidden' });
  assert.equal(calls, 2, 'a fresh token was tried once');
  const gw = new Client(srv.url, { token: admin }).gateway({ clientId: 'x', subscribe: [{ ct: 'room', cid: 'gw', from: 'bad-cursor' }] });
  await assert.rejects(gw.connect(), (err) => err instanceof EventStoreError && err.code === 'invalid_cursor');
});

test('gateway: after a dropped connection, every subscription resumes from its cursor', async () => {
  await c.createContext('room', 'drop');
  let hold;
  const proxy = await startProxy(srv.url, { upgrade: () => hold });
  try {
    const gw = new Client(proxy.url, { token: admin, retryBaseMs: 20 }).gateway({ clientId: 'drop', subscribe: [{ ct: 'room', cid: 'drop', from: 'start' }] });
    const { got, done, events } = collect(gw);
    await gw.connect();
    for (let i = 0; i < 3; i++) await c.append('room', 'drop', { t: 'msg', o: { i } });
    await until(() => events().length === 4, 5000, 'the first events');
    let release;
    hold = new Promise((r) => (release = r));
    const inFlight = gw.append('room', 'drop', { t: 'msg', o: { inFlight: true }, clid: 'in-flight' });
    proxy.cut();
    await until(() => got.some((m) => m.kind === 'reconnecting'), 5000, 'reconnecting');
    for (let i = 3; i < 6; i++) await c.append('room', 'drop', { t: 'msg', o: { i } }); // while it is away
    const queued = gw.append('room', 'drop', { t: 'msg', o: { queued: true }, clid: 'queued' });
    hold = undefined;
    release();
    const [a, b] = await Promise.all([inFlight, queued]);
    assert.deepEqual([a.clid, b.clid], ['in-flight', 'queued']);
    const timeline = [];
    for await (const e of c.events('room', 'drop')) timeline.push(e._id);
    assert.equal(timeline.length, 9, 'each clid append stored once');
    await until(() => events().length === 9, 5000, 'every event');
    assert.deepEqual(events().map((m) => m.event._id), timeline);
    assert.equal(got.filter((m) => m.kind === 'ready').length, 2);
    gw.close();
    await done;
  } finally {
    await proxy.close();
  }
});

test('gateway: slow_consumer resumes from the cursors the server gives', async () => {
  await c.createContext('room', 'slow-a');
  await c.createContext('room', 'slow-b');
  let hold;
  const proxy = await startProxy(srv.url, { upgrade: () => hold });
  try {
    // room/slow-b is followed from now and has had no event: only the
    // server's cursor can tell where it was.
    const gw = new Client(proxy.url, { token: admin, retryBaseMs: 20 }).gateway({ clientId: 'slow', subscribe: [{ ct: 'room', cid: 'slow-a', from: 'start' }, { ct: 'room', cid: 'slow-b' }] });
    const { got, done, events } = collect(gw);
    await gw.connect();
    await c.append('room', 'slow-a', { t: 'msg', o: { n: 1 } });
    await until(() => events().length === 2, 5000, 'the first events');
    const present = async (cid) => (await c.list('room', cid, { dir: 'b', limit: 1 })).start;
    const cursors = { 'room/slow-a': await present('slow-a'), 'room/slow-b': await present('slow-b') };
    let release;
    hold = new Promise((r) => (release = r));
    proxy.wsEnd({ op: 3, d: { code: 'slow_consumer', reason: 'the subscription to room/slow-a fell behind', cursors } });
    await until(() => got.some((m) => m.kind === 'reconnecting'), 5000, 'reconnecting');
    assert.equal(got.find((m) => m.kind === 'reconnecting').code, 'slow_consumer');
    const missed = [(await c.append('room', 'slow-b', { t: 'msg', o: { n: 2 } })).event, (await c.append('room', 'slow-a', { t: 'msg', o: { n: 3 } })).event];
    hold = undefined;
    release();
    await until(() => events().length === 4, 5000, 'the events appended while it was away');
    assert.deepEqual(events().slice(2).map((m) => m.event._id).sort(), missed.map((e) => e._id).sort());
    gw.close();
    await done;
  } finally {
    await proxy.close();
  }
});

test('gateway: an expired client token is replaced and the subscriptions go on; heartbeats keep it open', async () => {
  await c.createContext('room', 'expiring');
  let calls = 0;
  const user = new Client(srv.url, { token: () => mintToken({ read: ['room/expiring'], ttl: calls++ === 0 ? '6s' : '1h' }) });
  const gw = user.gateway({ clientId: 'exp', subscribe: [{ ct: 'room', cid: 'expiring', from: 'start' }] });
  const { got, done, events } = collect(gw);
  await gw.connect();
  await until(() => got.some((m) => m.kind === 'reconnecting'), 10_000, 'token_expired');
  const { event } = await c.append('room', 'expiring', { t: 'msg', o: { after: 'expiry' } });
  await until(() => events().length === 2, 5000, 'the event after expiry');
  assert.equal(events()[1].event._id, event._id);
  assert.deepEqual(got.filter((m) => m.kind === 'reconnecting').map((m) => m.code), ['token_expired'], 'no heartbeat_timeout with a 2 s heartbeat');
  assert.equal(calls, 2);
  gw.close();
  await done;
});

test('gateway: an altered dispatch ends the gateway with an IntegrityError', async () => {
  await c.createContext('room', 'gw-altered');
  const proxy = await startProxy(srv.url);
  try {
    const gw = new Client(proxy.url, { token: admin }).gateway({ clientId: 'alt', subscribe: [{ ct: 'room', cid: 'gw-altered', from: 'start' }] });
    const { done, events } = collect(gw);
    await gw.connect();
    await until(() => events().length === 1, 5000, 'the genesis');
    const [e] = (await c.list('room', 'gw-altered')).events;
    proxy.wsEnd({ op: 4, t: e.t, s: 'x', d: { ...e, o: { forged: true } } }); // as if the server had sent it
    await assert.rejects(done, IntegrityError);
  } finally {
    await proxy.close();
  }
});
