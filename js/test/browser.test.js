// The client in a real browser: headless Chromium (Debian's chromium,
// driven by puppeteer-core) loads a page from another origin than the
// server (the app on 127.0.0.1:A, the server on 127.0.0.1:B with
// --cors-origins http://127.0.0.1:A) and lives a chat's life there: token
// from the app's backend, create and append with a clid, page back, follow
// live across a server restart, the gateway, verification (also of events
// a proxy alters on their way); and a page of an origin the server does not
// allow (http://localhost:C) is refused, by the browser's CORS check and by
// the gateway's Origin check. So it fails if CORS, the origin check or
// verification breaks.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import puppeteer from 'puppeteer-core';
import { Client } from '../dist/index.js';
import { startServer, startProxy, clientKey, hashWithBinary, pool } from './fixtures.js';
import { startApp } from './pages.js';
import { loadVectors } from './vectors.js';
import { rng, randomEvent } from './random.js';

const admin = 'admin-secret-0123456789';
const chromium = process.env.CHROMIUM || ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
let app, refusedApp, srv, proxy, browser, page, refusedPage, c;

/**
 * A page of the app at origin, with the client loaded. Waits poll by
 * interval, not by animation frame, which a page in the background does
 * not get.
 */
async function open(origin) {
  const p = await browser.newPage();
  p.setDefaultTimeout(30_000);
  p.on('pageerror', (err) => console.error('page error:', err.message));
  await p.goto(origin + '/');
  await p.waitForFunction(() => window.loaded === true, { polling: 50 });
  return p;
}

before(async () => {
  assert.ok(chromium, 'no chromium: install Debian\'s package chromium (make test-js does)');
  app = await startApp();
  refusedApp = await startApp();
  const allowed = `http://127.0.0.1:${app.port}`;
  srv = await startServer({ args: ['--token', `admin:${admin}`, '--client-token-key', clientKey, '--cors-origins', allowed] });
  c = new Client(srv.url, { token: admin });
  proxy = await startProxy(srv.url, { alter: (e) => { if (typeof e.o?.msg === 'string') e.o.msg = 'altered by the proxy'; } });
  browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', ...(process.env.BROWSER_ARGS ?? '').split(' ').filter(Boolean)],
    protocolTimeout: 60_000,
  });
  page = await open(allowed);
  refusedPage = await open(`http://localhost:${refusedApp.port}`);
});

after(async () => {
  await browser?.close();
  await proxy?.close();
  await srv?.close();
  await app?.close();
  await refusedApp?.close();
});

test('Chromium: canonical JSON and ids of the spec vectors and of 300 random events', async () => {
  const vectors = loadVectors().flatMap(([, v]) => v);
  const r = rng(7);
  const events = Array.from({ length: 300 }, () => randomEvent(r));
  const want = await pool(events, 4, (e) => hashWithBinary(e));
  const got = await page.evaluate(async (json) => {
    const { vectors, events } = JSON.parse(json);
    const out = { vectors: [], events: [] };
    for (const v of vectors) {
      out.vectors.push({ canonicalO: es.canonicalJSON(v.event.o), dHash: await es.dataHash(v.event.o), canonicalHead: es.canonicalHead({ ...v.event, dHash: v.dHash }), _id: await es.eventId({ ...v.event, dHash: v.dHash }) });
    }
    for (const e of events) {
      const dHash = await es.dataHash(e.o);
      out.events.push({ dHash, _id: await es.eventId({ ...e, dHash }) });
    }
    return out;
  }, JSON.stringify({ vectors, events }));
  vectors.forEach((v, i) => assert.deepEqual(got.vectors[i], { canonicalO: v.canonicalO, dHash: v.dHash, canonicalHead: v.canonicalHead, _id: v._id }, v.name));
  events.forEach((e, i) => assert.deepEqual(got.events[i], want[i], JSON.stringify(e)));
});

test('Chromium, another origin: a chat\'s life, following live across a server restart', async () => {
  const cfg = { server: srv.url };
  const start = await page.evaluate(async (cfg) => {
    const token = async () => (await fetch('/token?write=room/chat')).text();
    const c = new es.Client(cfg.server, { token, retryBaseMs: 50 });
    const genesis = await c.createContext('room', 'chat', { o: { name: 'chat' } });
    const first = await c.append('room', 'chat', { t: 'msg', o: { msg: 'one' }, clid: 'page-1' });
    const again = await c.append('room', 'chat', { t: 'msg', o: { msg: 'one' }, clid: 'page-1' });
    for (let i = 2; i <= 5; i++) await c.append('room', 'chat', { t: 'msg', o: { msg: `m${i}` }, clid: `page-${i}` });
    const newest = await c.list('room', 'chat', { dir: 'b', limit: 2 });
    const back = newest.events.map((e) => e._id);
    for (let from = newest.next; from;) {
      const p = await c.list('room', 'chat', { dir: 'b', limit: 2, from });
      back.push(...p.events.map((e) => e._id));
      from = p.next;
    }
    window.live = [];
    window.abortLive = new AbortController();
    (async () => {
      for await (const m of c.follow('room', 'chat', { from: newest.start, signal: window.abortLive.signal })) {
        if (m.kind === 'event') window.live.push(m.event._id);
      }
    })().catch((err) => { window.liveError = `${err.name} ${err.code} ${err.message}`; });
    return { genesis: genesis._id, created: [first.created, again.created], same: first.event._id === again.event._id, back, start: newest.start };
  }, cfg);
  assert.deepEqual(start.created, [true, false]);
  assert.ok(start.same, 'a clid repeated gave the first event');
  const timeline = [];
  for await (const e of c.events('room', 'chat')) timeline.push(e._id);
  assert.equal(timeline.length, 6);
  assert.deepEqual(start.back, [...timeline].reverse(), 'scrolled back to the genesis');

  const sent = [];
  for (let i = 0; i < 3; i++) sent.push((await c.append('room', 'chat', { t: 'msg', o: { msg: `live ${i}` } })).event._id);
  await page.waitForFunction((n) => window.live.length >= n || window.liveError, { polling: 50 }, 3);
  srv = await srv.restart(); // the stream ends; the page's iterator reconnects with Last-Event-ID
  c = new Client(srv.url, { token: admin });
  for (let i = 3; i < 6; i++) sent.push((await c.append('room', 'chat', { t: 'msg', o: { msg: `live ${i}` } })).event._id);
  await page.waitForFunction((n) => window.live.length >= n || window.liveError, { polling: 50 }, 6);
  const live = await page.evaluate(() => { window.abortLive.abort(); return { live: window.live, error: window.liveError }; });
  assert.equal(live.error, undefined);
  assert.deepEqual(live.live, sent, 'every event after the page once, across the restart');
});

test('Chromium, another origin: the gateway sends and receives', async () => {
  const cfg = { server: srv.url };
  const pending = page.evaluate(async (cfg) => {
    const token = async () => (await fetch('/token?write=room/chat')).text();
    const gw = new es.Client(cfg.server, { token }).gateway({ clientId: 'page-tab', subscribe: [{ ct: 'room', cid: 'chat', from: 'start' }] });
    const got = [];
    const done = (async () => { for await (const m of gw) if (m.kind === 'event') got.push(m.event); })();
    await gw.connect();
    const acked = await gw.append('room', 'chat', { t: 'msg', o: { msg: 'by the gateway' }, clid: 'gw-1' });
    const until = async (f) => { for (let i = 0; i < 500 && !f(); i++) await new Promise((r) => setTimeout(r, 20)); };
    await until(() => got.some((e) => e._id === acked._id));
    window.gatewayGot = got;
    await until(() => got.some((e) => e.o?.msg === 'from the server'));
    gw.close();
    await done;
    return { acked: acked._id, got: got.map((e) => e._id) };
  }, cfg);
  await page.waitForFunction(() => window.gatewayGot, { polling: 50 });
  const { event } = await c.append('room', 'chat', { t: 'msg', o: { msg: 'from the server' } });
  const { acked, got } = await pending;
  const timeline = [];
  for await (const e of c.events('room', 'chat')) timeline.push(e._id);
  assert.ok(timeline.includes(acked));
  assert.deepEqual(got, timeline, 'the room from the start, the page\'s own message and the server\'s');
  assert.equal(got.at(-1), event._id);
});

test('Chromium: events altered by a proxy are IntegrityErrors, on REST and on the stream', async () => {
  const out = await page.evaluate(async (cfg) => {
    const token = async () => (await fetch('/token?read=room/chat')).text();
    const result = (p) => p.then((v) => ({ ok: v }), (err) => ({ name: err.name, code: err.code, message: err.message }));
    const verifying = new es.Client(cfg.proxy, { token });
    const trusting = new es.Client(cfg.proxy, { token, verify: false });
    const streamed = [];
    return {
      direct: await result(new es.Client(cfg.server, { token }).list('room', 'chat').then((p) => p.events.length)),
      list: await result(verifying.list('room', 'chat')),
      follow: await result((async () => { for await (const m of verifying.follow('room', 'chat', { from: 'start' })) streamed.push(m.kind); })()),
      streamed,
      trusting: await result(trusting.list('room', 'chat').then((p) => p.events[1].o.msg)),
    };
  }, { server: srv.url, proxy: proxy.url });
  assert.ok(out.direct.ok > 6, JSON.stringify(out.direct));
  assert.equal(out.list.name, 'IntegrityError', JSON.stringify(out.list));
  assert.equal(out.list.code, 'invalid_data');
  assert.equal(out.follow.name, 'IntegrityError', JSON.stringify(out.follow));
  assert.deepEqual(out.streamed, ['event'], 'the genesis passed, the first altered message ended the stream');
  assert.equal(out.trusting.ok, 'altered by the proxy', 'the proxy does alter what it passes');
});

test('Chromium: an origin the server does not allow is refused, by CORS and by the gateway', async () => {
  const out = await refusedPage.evaluate(async (cfg) => {
    const token = async () => (await fetch('/token?write=room/chat')).text();
    const result = (p) => p.then(() => 'allowed', (err) => (err instanceof es.EventStoreError ? err.code : err.name));
    const c = new es.Client(cfg.server, { token, attempts: 2, retryBaseMs: 10 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 1500);
    const events = [];
    return {
      token: (await token()).split('.').length,
      rest: await result(c.context('room', 'chat')),
      append: await result(c.append('room', 'chat', { t: 'msg', o: { msg: 'intruder' } })),
      gateway: await result(c.gateway({ clientId: 'intruder' }).connect()),
      follow: await result((async () => { for await (const m of c.follow('room', 'chat', { from: 'start', signal: ac.signal })) events.push(m); })()),
      events: events.length,
    };
  }, { server: srv.url });
  assert.equal(out.token, 3, 'the page has its token');
  assert.deepEqual(out, { token: 3, rest: 'unavailable', append: 'unavailable', gateway: 'connection_lost', follow: 'AbortError', events: 0 });
  // The same refusals, seen from Node: no CORS answer for that origin, and
  // the gateway's upgrade refused; the allowed origin gets both.
  const refused = `http://localhost:${refusedApp.port}`;
  const allowed = `http://127.0.0.1:${app.port}`;
  for (const [origin, ok] of [[allowed, true], [refused, false]]) {
    const pre = await fetch(srv.url + '/api/v1/contexts/room/chat/events', { method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type' } });
    assert.equal(pre.headers.get('access-control-allow-origin') === origin, ok, `preflight of ${origin}`);
    const status = await upgradeStatus(srv.url, origin);
    assert.equal(status === 101, ok, `gateway upgrade from ${origin}: ${status}`);
  }
});

/** The status of a WebSocket upgrade of the gateway with this Origin. */
async function upgradeStatus(base, origin) {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request(base + '/api/v1/gateway', { headers: { Connection: 'Upgrade', Upgrade: 'websocket', Origin: origin, 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' }, timeout: 5000 });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve(res.statusCode); });
    req.on('response', (res) => { res.resume(); resolve(res.statusCode); });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}
