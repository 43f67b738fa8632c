// The WebSocket gateway (docs/gateway.md): hello, identify with the token
// and the rooms, heartbeats, append/update/delete/subscribe answered by
// nonce, and events as dispatches with their cursor. The connection is
// made again by itself after a drop, a server restart, slow_consumer
// (resuming from the cursors the server gives) or an expired token (with a
// fresh one), each subscription from the cursor of the last event it
// delivered, so nothing is missed or repeated. A request cut off by a drop
// is sent again only if that cannot store twice (an append with a clid, a
// subscription); any other is rejected with `unavailable`.

import { EventStoreError, IntegrityError } from './errors.js';
import { mayPassLater, sleep, type Transport } from './http.js';
import type { Append, Event, Update } from './types.js';
import { verifyEvent, type Expect } from './verify.js';

/** A room to follow, from a cursor (absent: from now on; 'start': its whole history). */
export interface Subscription {
  ct: string;
  cid: string;
  from?: string;
}

export interface GatewayOptions {
  /** This client's id: one connection per subject holds it at a time (e.g. one per browser tab). */
  clientId: string;
  applicationName?: string;
  /** The rooms to follow from the start. */
  subscribe?: Subscription[];
  /** Only events of this type ("msg") or prefix ("message.*"). */
  t?: string;
}

/** What the gateway delivers, in order. */
export type GatewayMessage =
  | { kind: 'event'; event: Event; cursor: string }
  /** Identified; subscriptions flow (after each connection). */
  | { kind: 'ready'; sessionId: string }
  /** The connection ended and is being made again; code is the server's (or 'connection_lost'). */
  | { kind: 'reconnecting'; code: string; reason: string };

interface Packet {
  op: number;
  d?: any;
  t?: string;
  s?: string;
  ts?: number;
}

interface Request {
  t: string;
  d: Record<string, unknown>;
  retry: boolean; // sending it again cannot store twice
  want: Expect | undefined; // the event an ack carries, if one is wanted
  sent: boolean;
  tries: number;
  resolve: (e: Event | undefined) => void;
  reject: (err: unknown) => void;
}

/** How one connection ended. */
interface Ended {
  code: string;
  reason: string;
  ready: boolean; // it got as far as ready
}

/** Codes after which connecting again cannot help. */
const fatal = new Set(['invalid_request', 'invalid_cursor', 'not_found', 'forbidden', 'unauthorized', 'invalid_data']);

export class Gateway implements AsyncIterable<GatewayMessage> {
  private readonly tr: Transport;
  private readonly o: GatewayOptions;
  private readonly subs = new Map<string, Subscription>(); // ct/cid → where to resume
  private readonly pending = new Map<string, Request>(); // nonce → request
  private readonly queue: GatewayMessage[] = [];
  private waiter: (() => void) | undefined;
  private ws: WebSocket | undefined;
  private ready = false;
  private closed = false;
  private failure: unknown;
  private chain: Promise<void> = Promise.resolve(); // packets are handled in order
  private started: Promise<void> | undefined;

  constructor(tr: Transport, o: GatewayOptions) {
    this.tr = tr;
    this.o = o;
    for (const s of o.subscribe ?? []) this.subs.set(key(s.ct, s.cid), { ...s });
  }

  /**
   * Opens the connection and resolves once the server is ready. It rejects
   * if the first connection is refused (a bad token, a forbidden room, a
   * bad cursor) or cannot be made in `attempts` tries (a server down, an
   * origin the server does not allow); after that, the gateway reconnects
   * by itself until close().
   */
  connect(): Promise<void> {
    this.started ??= new Promise<void>((resolve, reject) => {
      void this.run(resolve, reject);
    });
    return this.started;
  }

  /** The cursor after the last event delivered of each subscription, by "ct/cid". */
  cursors(): Record<string, string | undefined> {
    return Object.fromEntries([...this.subs].map(([k, s]) => [k, s.from]));
  }

  /** Follows room ct/cid from `from` (absent: now; 'start': its whole history). */
  async subscribe(ct: string, cid: string, from?: string): Promise<void> {
    const k = key(ct, cid);
    const sub: Subscription = from === undefined ? { ct, cid } : { ct, cid, from };
    this.subs.set(k, sub);
    try {
      await this.request('subscribe', { ct, cid, ...(from === undefined ? {} : { from }) }, true, undefined);
    } catch (err) {
      if (this.subs.get(k) === sub) this.subs.delete(k);
      throw err;
    }
  }

  /** Stops following room ct/cid. */
  async unsubscribe(ct: string, cid: string): Promise<void> {
    if (!this.subs.delete(key(ct, cid))) return;
    await this.request('unsubscribe', { ct, cid }, false, undefined).catch((err) => {
      if (!(err instanceof EventStoreError) || err.code !== 'unavailable') throw err; // dropped: the next identify leaves it out
    });
  }

  /** Appends an event; the stored event. With a clid it is sent again after a drop, without one it is not. */
  async append(ct: string, cid: string, body: Append): Promise<Event> {
    const retry = typeof body.clid === 'string' && body.clid !== '';
    const want: Expect = { ct, cid, t: body.t };
    if (retry) want.clid = body.clid!;
    return (await this.request('append', { ct, cid, ...body }, retry, want))!;
  }

  /** Appends an event.update applying edit to event id's d; the update event. */
  async update(ct: string, cid: string, id: string, edit: Update): Promise<Event> {
    return (await this.request('update', { ct, cid, id, ...edit }, false, { ct, cid, t: 'event.update' }))!;
  }

  /** Appends an event.delete for event id; the delete event. */
  async delete(ct: string, cid: string, id: string): Promise<Event> {
    return (await this.request('delete', { ct, cid, id }, false, { ct, cid, t: 'event.delete' }))!;
  }

  /** Closes the connection for good; what is pending is rejected, and iteration ends. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ws?.close(1000, 'closed by the client');
    this.rejectAll(new EventStoreError('unavailable', 'the gateway was closed'), () => true);
    this.wake();
  }

  /** The gateway's messages in order: events, and each ready and reconnecting. Throws what ended the gateway. */
  async *[Symbol.asyncIterator](): AsyncIterator<GatewayMessage> {
    for (;;) {
      const m = this.queue.shift();
      if (m) {
        yield m;
        continue;
      }
      if (this.failure !== undefined) throw this.failure;
      if (this.closed) return;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  private push(m: GatewayMessage): void {
    this.queue.push(m);
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private request(t: string, d: Record<string, unknown>, retry: boolean, want: Expect | undefined): Promise<Event | undefined> {
    if (this.closed) return Promise.reject(this.failure ?? new EventStoreError('unavailable', 'the gateway is closed'));
    this.connect().catch(() => {}); // a refusal rejects what is pending
    return new Promise((resolve, reject) => {
      const r: Request = { t, d, retry, want, sent: false, tries: 0, resolve, reject };
      this.pending.set(nonce(), r);
      if (this.ready) this.flush();
    });
  }

  /** Sends what waits for the connection. */
  private flush(): void {
    for (const [n, r] of this.pending) {
      if (r.sent || !this.ws) continue;
      r.sent = true;
      r.tries++;
      this.ws.send(JSON.stringify({ op: 4, t: r.t, d: { ...r.d, nonce: n } }));
    }
  }

  private rejectAll(err: unknown, which: (r: Request) => boolean): void {
    for (const [n, r] of this.pending) {
      if (!which(r)) continue;
      this.pending.delete(n);
      r.reject(err);
    }
  }

  private fail(err: unknown): void {
    if (this.closed) return;
    this.failure = err;
    this.close();
  }

  private async run(resolve: () => void, reject: (err: unknown) => void): Promise<void> {
    let failures = 0;
    let renewed = false; // a fresh token was asked for since the last ready
    let first = true;
    while (!this.closed) {
      const end = await this.once(() => {
        if (first) resolve();
        first = false;
        renewed = false;
        failures = 0;
      });
      if (this.closed) break;
      const err = new EventStoreError(end.code, `the gateway closed the connection: ${end.code}${end.reason ? ': ' + end.reason : ''}`);
      const refused = end.code === 'unauthorized' || end.code === 'forbidden' || end.code === 'token_expired';
      let waitMs = -1; // -1: backoff
      if (refused && this.tr.tokens.renewable && !renewed) {
        renewed = true; // once more at once, with a fresh token
        waitMs = 0;
        try {
          await this.tr.tokens.renew();
        } catch (e) {
          if (first) reject(e);
          this.fail(e);
          break;
        }
      } else if (fatal.has(end.code) || (first && failures + 1 >= this.tr.attempts)) {
        if (first) reject(err);
        this.fail(err);
        break;
      }
      this.push({ kind: 'reconnecting', code: end.code, reason: end.reason });
      // Cut off: what cannot store twice goes again once ready, the rest is unknown.
      this.rejectAll(new EventStoreError('unavailable', `the connection was lost before the answer (${end.code}); whether it was done is unknown`), (r) => r.sent && !r.retry);
      for (const r of this.pending.values()) r.sent = false;
      if (waitMs !== 0) {
        await sleep(this.tr.backoff(failures)).catch(() => {});
        failures++;
      }
    }
    if (first) reject(this.failure ?? new EventStoreError('unavailable', 'the gateway was closed'));
  }

  /** One connection, until it ends. */
  private once(onReady: () => void): Promise<Ended> {
    return new Promise<Ended>((resolve) => {
      const WS = this.tr.WebSocket;
      if (!WS) {
        resolve({ code: 'invalid_request', reason: 'no WebSocket here: pass one in the client options', ready: false });
        return;
      }
      const end: Ended = { code: 'connection_lost', reason: '', ready: false };
      let beat: ReturnType<typeof setInterval> | undefined;
      let last = Date.now();
      let ws: WebSocket;
      try {
        ws = new WS(this.tr.base.replace(/^http/, 'ws') + '/api/v1/gateway');
      } catch (err) {
        resolve({ code: 'invalid_request', reason: String((err as Error)?.message ?? err), ready: false });
        return;
      }
      const helloTimer = setTimeout(() => ws.close(4000, 'no hello from the server'), 15_000);
      this.ws = ws;
      const handle = async (p: Packet) => {
        last = Date.now();
        switch (p.op) {
          case 0: { // hello
            clearTimeout(helloTimer);
            const every = Math.max(1000, Number(p.d?.heartbeat_interval) || 30_000);
            beat = setInterval(() => {
              if (Date.now() - last > 2 * every) ws.close(4000, 'the server stayed silent');
              else ws.send(JSON.stringify({ op: 5, d: { client_id: this.o.clientId } }));
            }, every);
            const token = await this.tr.tokens.current();
            const subscribe = [...this.subs.values()].map((s) => ({ ...s }));
            const included = new Set(this.subs.keys());
            for (const r of this.pending.values()) { // a subscription identify makes is answered by ready
              if (r.t === 'subscribe' && included.has(key(String(r.d['ct']), String(r.d['cid'])))) r.sent = true;
            }
            ws.send(JSON.stringify({ op: 1, d: { client_id: this.o.clientId, application_name: this.o.applicationName ?? 'eventstore-js', token: token ?? '', subscribe, t: this.o.t ?? '' } }));
            return;
          }
          case 2: // ready
            end.ready = true;
            this.ready = true;
            for (const [n, r] of this.pending) {
              if (r.t === 'subscribe' && r.sent) {
                this.pending.delete(n);
                r.resolve(undefined);
              }
            }
            onReady();
            this.push({ kind: 'ready', sessionId: String(p.d?.session_id ?? '') });
            this.flush();
            return;
          case 3: // invalid, then the close
            end.code = String(p.d?.code ?? 'invalid_request');
            end.reason = String(p.d?.reason ?? '');
            for (const [k, c] of Object.entries((p.d?.cursors ?? {}) as Record<string, string>)) {
              const s = this.subs.get(k);
              if (s && c) s.from = c;
            }
            return;
          case 4: { // an event
            const e = p.d as Event;
            const s = this.subs.get(key(e?.ct, e?.cid));
            if (!s) return; // unsubscribed meanwhile
            if (this.tr.verify) await verifyEvent(e, { ct: s.ct, cid: s.cid });
            if (p.s) s.from = p.s;
            this.push({ kind: 'event', event: e, cursor: p.s ?? '' });
            return;
          }
          case 7: case 8: // ack, error
            this.answer(p);
            return;
        }
      };
      ws.onmessage = (m: MessageEvent) => {
        let p: Packet;
        try {
          p = JSON.parse(String(m.data)) as Packet;
        } catch {
          return;
        }
        this.chain = this.chain.then(() => handle(p)).catch((err) => {
          this.fail(err instanceof EventStoreError ? err : new EventStoreError('internal', `a gateway packet: ${(err as Error)?.message ?? err}`, { cause: err }));
        });
      };
      ws.onclose = (c: CloseEvent) => {
        clearInterval(beat);
        clearTimeout(helloTimer);
        this.ready = false;
        if (this.ws === ws) this.ws = undefined;
        if (end.code === 'connection_lost' && c.reason) end.reason = `${c.code} ${c.reason}`;
        else if (end.code === 'connection_lost') end.reason = `closed (${c.code}) before ${end.ready ? 'an invalid packet' : 'ready'}`;
        this.chain = this.chain.then(() => resolve(end));
      };
    });
  }

  private answer(p: Packet): void {
    const n = String(p.d?.nonce ?? '');
    const r = this.pending.get(n);
    if (!r) return;
    if (p.op === 8) {
      const status = Number(p.d?.status) || 0;
      if (r.retry && mayPassLater(status) && r.tries < this.tr.attempts) {
        r.sent = false;
        void sleep(this.tr.backoff(r.tries - 1)).then(() => this.ready && this.flush());
        return;
      }
      this.pending.delete(n);
      r.reject(new EventStoreError(String(p.d?.code ?? 'internal'), String(p.d?.detail ?? p.d?.code ?? 'refused'), { status }));
      return;
    }
    this.pending.delete(n);
    if (!r.want) return r.resolve(undefined);
    const e = p.d?.event as Event;
    const check = this.tr.verify ? verifyEvent(e, r.want) : Promise.resolve();
    check.then(() => r.resolve(e), (err: IntegrityError) => r.reject(err));
  }
}

function key(ct: string, cid: string): string {
  return `${ct}/${cid}`;
}

function nonce(): string {
  const c = globalThis.crypto;
  if (c?.randomUUID) return c.randomUUID();
  return Date.now().toString(36) + Math.random().toString(36).slice(2);
}
