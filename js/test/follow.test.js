// follow(): the real server's streams from a cursor, across a restart, with
// client tokens that expire, refused reconnects and altered events; and a
// scripted server for reset, Retry-After and the idle timeout.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Client, EventStoreError, IntegrityError, dataHash, eventId } from '../dist/index.js';
import { startServer, startProxy, mintToken, clientKey, take, until } from './fixtures.js';

const admin = 'admin-secret-0123456789';
const servers = [];
after(async () => { for (const s of servers) await s.close(); });

async function server() {
  const s = await startServer({ args: ['--token', `admin:${admin}`, '--client-token-key', clientKey] });
  servers.push(s);
  return s;
}

test('follow: the history, caught-up, then live; from a page\'s start, exactly what came after', async () => {
  const srv = await server();
  const c = new Client(srv.url, { token: admin });
  const genesis = await c.createContext('room', 'live');
  const before = [];
  for (let i = 0; i < 3; i++) before.push((await c.append('room', 'live', { t: 'msg', o: { i } })).event);
  const page = await c.list('room', 'live', { dir: 'b', limit: 50 });

  const all = c.follow('room', 'live', { from: 'start' });
  const { items: history } = await take(all, 5);
  assert.deepEqual(history.map((m) => m.kind), ['event', 'event', 'event', 'event', 'caught-up']);
  assert.deepEqual(history.slice(0, 4).map((m) => m.event._id), [genesis._id, ...before.map((e) => e._id)]);
  const afterPage = c.follow('room', 'live', { from: page.start });
  const { items: [caught] } = await take(afterPage, 1);
  assert.equal(caught.kind, 'caught-up');
  const live = (await c.append('room', 'live', { t: 'msg', o: { live: true } })).event;
  for (const s of [all, afterPage]) {
    const { items: [m] } = await take(s, 1);
    assert.equal(m.kind, 'event');
    assert.equal(m.event._id, live._id);
    assert.ok(m.cursor);
    await s.return(); // closes the connection
  }
  // A listing continues from a stream's cursor.
  const { items: [m], it } = await take(c.follow('room', 'live', { from: 'start', t: 'msg' }), 1);
  await it.return();
  const rest = await c.list('room', 'live', { from: m.cursor });
  assert.deepEqual(rest.events.map((e) => e._id), [...before.slice(1), live].map((e) => e._id));
});

test('follow resumes across a server restart: every event once, in order', async () => {
  let srv = await server();
  const c = new Client(srv.url, { token: admin, retryBaseMs: 50 });
  await c.createContext('room', 'restart');
  const received = [];
  const ac = new AbortController();
  const following = (async () => {
    for await (const m of c.follow('room', 'restart', { from: 'start', signal: ac.signal })) {
      if (m.kind === 'event') received.push(m.event._id);
    }
  })().catch((err) => { if (!ac.signal.aborted) throw err; });
  let sent = 0;
  const append = async () => {
    for (let tries = 0; ; tries++) {
      try {
        await c.append('room', 'restart', { t: 'msg', o: { n: sent }, clid: `n-${sent}` });
        sent++;
        return;
      } catch (err) {
        if (tries > 100) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  for (let i = 0; i < 10; i++) await append();
  await until(() => received.length === 11, 10_000, 'the first events');
  const restarting = srv.restart().then((s) => { srv = s; servers.push(s); });
  for (let i = 0; i < 10; i++) await append(); // some while the server is down
  await restarting;
  for (let i = 0; i < 10; i++) await append();
  await until(() => received.length === 31, 20_000, `all events (have ${received.length})`);
  const timeline = [];
  for await (const e of new Client(srv.url, { token: admin }).events('room', 'restart')) timeline.push(e._id);
  assert.deepEqual(received, timeline);
  ac.abort();
  await following;
});

test('follow with client tokens: a fresh token when one expires, and when a reconnect is refused', async () => {
  const srv = await server();
  const c = new Client(srv.url, { token: admin });
  await Promise.all(['header', 'query'].map(async (auth) => {
    const room = `expiry-${auth}`;
    await c.createContext('room', room);
    // The first token may not read the room: refused, then a fresh one
    // that lives 6 s, then another.
    let calls = 0;
    const tokens = (n) => mintToken({ read: [n === 0 ? 'room/other' : `room/${room}`], ttl: n === 1 ? '6s' : '1h' });
    const user = new Client(srv.url, { token: () => tokens(calls++), retryBaseMs: 20 });
    const got = [];
    const ac = new AbortController();
    const following = (async () => {
      for await (const m of user.follow('room', room, { auth, signal: ac.signal })) got.push(m);
    })().catch((err) => { if (!ac.signal.aborted) throw err; });
    await until(() => got.length === 1, 10_000, 'caught-up');
    assert.equal(got[0].kind, 'caught-up');
    assert.equal(calls, 2, `${auth}: renewed once after the refusal`);
    const { event: e1 } = await c.append('room', room, { t: 'msg', o: { auth, n: 1 } });
    await until(() => got.length === 2, 10_000, 'the first event');
    assert.equal(got[1].event._id, e1._id);
    // The server ends the stream when the token expires; the iterator
    // comes back with a fresh one, from where it was.
    await until(() => calls === 3, 15_000, `${auth}: a token after expiry`);
    const { event: e2 } = await c.append('room', room, { t: 'msg', o: { auth, n: 2 } });
    await until(() => got.some((m) => m.event?._id === e2._id), 10_000, 'the event after expiry');
    assert.deepEqual(got.filter((m) => m.kind === 'event').map((m) => m.event._id), [e1._id, e2._id]);
    ac.abort();
    await following;
  }));
});

test('follow ends on answers that will not change, and on an altered event', async () => {
  const srv = await server();
  const c = new Client(srv.url, { token: admin });
  await c.createContext('room', 'ends');
  await c.append('room', 'ends', { t: 'msg', o: { msg: 'original' } });
  const drain = async (s) => { for await (const _ of s); };
  await assert.rejects(drain(c.follow('room', 'ends', { from: 'bad-cursor' })), { code: 'invalid_cursor', status: 400 });
  await assert.rejects(drain(c.follow('room', 'missing')), { code: 'not_found', status: 404 });
  await assert.rejects(drain(new Client(srv.url, { token: 'wrong' }).follow('room', 'ends')), { code: 'unauthorized' });
  const proxy = await startProxy(srv.url, { alter: (e) => { if (e.o?.msg) e.o.msg = 'altered'; } });
  try {
    const p = new Client(proxy.url, { token: admin });
    const got = [];
    await assert.rejects((async () => { for await (const m of p.follow('room', 'ends', { from: 'start' })) got.push(m); })(),
      (err) => err instanceof IntegrityError && /dHash/.test(err.message));
    assert.equal(got.length, 1, 'the genesis passed, the altered message did not');
  } finally {
    await proxy.close();
  }
});

/** A valid event of room/scripted number n. */
async function scripted(n) {
  const e = { src: 'script.example', ct: 'room', cid: 'scripted', t: 'msg', ts: 1000 + n, pids: [], o: { n }, v: 2 };
  e.dHash = await dataHash(e.o);
  e._id = await eventId(e);
  return e;
}

test('follow against a scripted server: reset, Retry-After, idle timeout, Last-Event-ID', async () => {
  const seen = []; // what each connection asked for
  const events = await Promise.all([1, 2, 3, 4].map(scripted));
  const server = http.createServer((req, res) => {
    const n = seen.push({ lastEventId: req.headers['last-event-id'], from: new URL(req.url, 'http://x').searchParams.get('from') });
    const send = (lines) => res.write(lines.join('\n') + '\n\n');
    if (n === 1) { // two events, then a reset
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      send(['retry: 2000', 'id: c1', 'data: ' + JSON.stringify(events[0])]);
      send(['id: c2', 'data: ' + JSON.stringify(events[1])]);
      send(['event: reset', 'id: c2', 'data: c2']);
      return res.end();
    }
    if (n === 2) { // busy: come back in a second
      res.writeHead(503, { 'Content-Type': 'application/problem+json', 'Retry-After': '1' });
      return res.end(JSON.stringify({ type: 'about:blank', title: 'busy', status: 503, code: 'unavailable' }));
    }
    if (n === 3) { // one event, then silence
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      send(['event: caught-up', 'id: c2', 'data: c2']);
      send(['id: c3', 'data: ' + JSON.stringify(events[2])]);
      return; // never ends: the idle timeout must
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    send([': heartbeat']);
    send(['id: c4', 'data: ' + JSON.stringify(events[3])]);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  try {
    const c = new Client(`http://127.0.0.1:${server.address().port}`, { idleTimeoutMs: 500, retryBaseMs: 10 });
    const t0 = Date.now();
    const { items, it } = await take(c.follow('room', 'scripted', { from: 'start' }), 6, 10_000);
    await it.return();
    assert.deepEqual(items.map((m) => `${m.kind} ${m.cursor}`), ['event c1', 'event c2', 'reset c2', 'caught-up c2', 'event c3', 'event c4']);
    assert.deepEqual(seen.slice(0, 4), [
      { lastEventId: undefined, from: 'start' },
      { lastEventId: 'c2', from: null },
      { lastEventId: 'c2', from: null },
      { lastEventId: 'c3', from: null },
    ]);
    assert.ok(Date.now() - t0 >= 1400, 'waited the Retry-After and the idle timeout');
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  assert.throws(() => new Client('ftp://x'), (err) => err instanceof EventStoreError && err.code === 'invalid_request');
});

test('followServer: every room of a type, with a client token that reads them all', async () => {
  const srv = await server();
  const c = new Client(srv.url, { token: admin });
  const ids = [];
  for (const cid of ['s1', 's2']) ids.push((await c.createContext('room', cid))._id);
  await c.createContext('other', 'o1'); // another type: not followed
  const reader = new Client(srv.url, { token: () => mintToken({ read: ['room/*'] }) });
  const s = reader.followServer({ ct: 'room', from: 'start' });
  const { items } = await take(s, 3);
  assert.deepEqual(items.map((m) => m.kind), ['event', 'event', 'caught-up']);
  assert.deepEqual(items.slice(0, 2).map((m) => m.event._id).sort(), [...ids].sort());
  const { event } = await c.append('room', 's2', { t: 'msg', o: { n: 1 } });
  await c.append('other', 'o1', { t: 'msg', o: { n: 2 } });
  const { items: [live] } = await take(s, 1);
  assert.equal(live.event._id, event._id);
  await s.return();
  // A cursor of this stream resumes it; the whole-server stream refuses it.
  const { items: [next], it } = await take(reader.followServer({ ct: 'room', from: live.cursor }), 1);
  assert.equal(next.kind, 'caught-up');
  await it.return();
  const drain = async (it) => { for await (const _ of it); };
  await assert.rejects(drain(c.followServer({ from: live.cursor })), { code: 'invalid_cursor' });
});
