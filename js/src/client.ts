// Client: every REST call of api/openapi.yaml, typed, with the Go client's
// retry rules (http.ts) and verification of every event received
// (verify.ts). The operationId → method map is OPERATIONS in schema.ts.

import { follow, type FollowOptions, type StreamMessage } from './follow.js';
import { Gateway, type GatewayOptions } from './gateway.js';
import { Transport, type ClientOptions } from './http.js';
import type { Append, CreateContext, Event, FederationStatus, Health, Leaves, Page, Report, Summary, Update } from './types.js';
import { verifyEvent, type Expect } from './verify.js';

/** Options every call takes. */
export interface CallOptions {
  /** Aborts the call, its retries included. */
  signal?: AbortSignal;
}

/** A page to list. */
export interface ListOptions extends CallOptions {
  /** 'f' (default): oldest first, after from. 'b': newest first, before from. */
  dir?: 'f' | 'b';
  /** A cursor (a page's next, start or end, or a stream message's); absent: the genesis (f) or the newest event (b). */
  from?: string;
  /** Events per page, 1 to 1,000; the server's default is 100. */
  limit?: number;
  /** Only events of this type ("msg"), or of a prefix ("message.*"). */
  t?: string;
}

/** The server-wide stream to follow. */
export interface ServerFollowOptions extends FollowOptions {
  /** Only contexts of this type. */
  ct?: string;
}

/** The path of context ct/cid, its parts escaped. */
export function contextPath(ct: string, cid: string): string {
  return `/api/v1/contexts/${encodeURIComponent(ct)}/${encodeURIComponent(cid)}`;
}

/** A client of one eventstore server. */
export class Client {
  /** The settings, token and fetch the calls share. */
  readonly transport: Transport;

  /**
   * A client of the server at baseURL, such as "http://127.0.0.1:8080" (a
   * path prefix is kept, for a server behind a proxy). In a browser, a
   * relative URL is taken from the page's.
   */
  constructor(baseURL: string, options: ClientOptions = {}) {
    this.transport = new Transport(baseURL, options);
  }

  private async check(e: Event, want: Expect): Promise<Event> {
    if (this.transport.verify) await verifyEvent(e, want);
    return e;
  }

  /** GET /healthz: the process is alive. */
  async health(o: CallOptions = {}): Promise<Health> {
    return (await this.transport.json<Health>({ method: 'GET', path: '/healthz', retry: true, signal: o.signal })).value;
  }

  /** GET /readyz: the database answers and is migrated (503 unavailable otherwise). */
  async ready(o: CallOptions = {}): Promise<Health> {
    return (await this.transport.json<Health>({ method: 'GET', path: '/readyz', retry: true, signal: o.signal })).value;
  }

  /** GET /openapi.yaml: the API's description, as text. */
  async openAPI(o: CallOptions = {}): Promise<string> {
    return (await this.transport.call({ method: 'GET', path: '/openapi.yaml', retry: true, signal: o.signal, accept: 'application/yaml' })).text;
  }

  /** GET /metrics: Prometheus text (scope read; never with a client token). */
  async metrics(o: CallOptions = {}): Promise<string> {
    return (await this.transport.call({ method: 'GET', path: '/metrics', retry: true, signal: o.signal, accept: 'text/plain' })).text;
  }

  /** GET /api/v1/federation/status: delivery to every peer (scope admin). */
  async federationStatus(o: CallOptions = {}): Promise<FederationStatus> {
    return (await this.transport.json<FederationStatus>({ method: 'GET', path: '/api/v1/federation/status', retry: true, signal: o.signal })).value;
  }

  /**
   * Creates context ct/cid with its genesis event. Fails with code
   * context_exists if it exists. Sent once: a retry after a lost answer
   * would get context_exists for the context this call created.
   */
  async createContext(ct: string, cid: string, body: CreateContext = {}, o: CallOptions = {}): Promise<Event> {
    const { value } = await this.transport.json<Event>({ method: 'POST', path: contextPath(ct, cid), body, retry: false, signal: o.signal });
    return this.check(value, { ct, cid });
  }

  /** The summary of context ct/cid (not_found if it does not exist). */
  async context(ct: string, cid: string, o: CallOptions = {}): Promise<Summary> {
    return (await this.transport.json<Summary>({ method: 'GET', path: contextPath(ct, cid), retry: true, signal: o.signal })).value;
  }

  /**
   * Appends an event and returns it as stored; created is false when the
   * server answered 200 because the clid was already used (the event is
   * then the one stored with it). With a clid the append is retried on
   * network errors, 5xx and 429, since the server answers a repeat with
   * the first event; without one it is sent once, since a retry after a
   * lost answer would store the message twice.
   */
  async append(ct: string, cid: string, body: Append, o: CallOptions = {}): Promise<{ event: Event; created: boolean }> {
    const retry = typeof body.clid === 'string' && body.clid !== '';
    const { status, value } = await this.transport.json<Event>({ method: 'POST', path: contextPath(ct, cid) + '/events', body, retry, signal: o.signal });
    const want: Expect = { ct, cid, t: body.t };
    if (retry) want.clid = body.clid!;
    return { event: await this.check(value, want), created: status === 201 };
  }

  /** One page of context ct/cid's timeline. A cursor of another context or server is invalid_cursor. */
  async list(ct: string, cid: string, o: ListOptions = {}): Promise<Page> {
    const query = { dir: o.dir, from: o.from, limit: o.limit, t: o.t };
    const { value } = await this.transport.json<Page>({ method: 'GET', path: contextPath(ct, cid) + '/events', query, retry: true, signal: o.signal });
    for (const e of value.events) await this.check(e, { ct, cid });
    return value;
  }

  /** Context ct/cid's timeline page after page from o.from in direction o.dir, to the end (dir 'b': back to the genesis). */
  async *events(ct: string, cid: string, o: ListOptions = {}): AsyncGenerator<Event, void, undefined> {
    let from = o.from;
    for (;;) {
      const page = await this.list(ct, cid, { ...o, from });
      yield* page.events;
      if (!page.next || page.next === from) return; // the end, or a server that does not move on
      from = page.next;
    }
  }

  /** Event id of context ct/cid with its current d (not_found if there is none). */
  async get(ct: string, cid: string, id: string, o: CallOptions = {}): Promise<Event> {
    const { value } = await this.transport.json<Event>({ method: 'GET', path: `${contextPath(ct, cid)}/events/${encodeURIComponent(id)}`, retry: true, signal: o.signal });
    return this.check(value, { ct, cid, id });
  }

  /**
   * Appends an event.update that applies edit to event id's d, and returns
   * it (gone if the event was deleted). Sent once: a retry would store a
   * second update.
   */
  async update(ct: string, cid: string, id: string, edit: Update, o: CallOptions = {}): Promise<Event> {
    const { value } = await this.transport.json<Event>({ method: 'PATCH', path: `${contextPath(ct, cid)}/events/${encodeURIComponent(id)}`, body: edit, retry: false, signal: o.signal });
    return this.check(value, { ct, cid, t: 'event.update' });
  }

  /**
   * Appends an event.delete for event id, which loses o and d (its hashed
   * fields stay), and returns it (gone if already deleted). Sent once.
   */
  async delete(ct: string, cid: string, id: string, o: CallOptions = {}): Promise<Event> {
    const { value } = await this.transport.json<Event>({ method: 'DELETE', path: `${contextPath(ct, cid)}/events/${encodeURIComponent(id)}`, retry: false, signal: o.signal });
    return this.check(value, { ct, cid, t: 'event.delete' });
  }

  /** The ids of context ct/cid's leaves, which the next append takes as its pids. */
  async leaves(ct: string, cid: string, o: CallOptions = {}): Promise<string[]> {
    return (await this.transport.json<Leaves>({ method: 'GET', path: contextPath(ct, cid) + '/leaves', retry: true, signal: o.signal })).value.leaves;
  }

  /** The server's integrity audit of context ct/cid (GET …/verify): every id and dHash recomputed, the graph checked. */
  async audit(ct: string, cid: string, o: CallOptions = {}): Promise<Report> {
    return (await this.transport.json<Report>({ method: 'GET', path: contextPath(ct, cid) + '/verify', retry: true, signal: o.signal })).value;
  }

  /**
   * Shares context ct/cid with server (a configured peer; scope admin).
   * The server.join event, or undefined when the server already takes part.
   */
  async share(ct: string, cid: string, server: string, o: CallOptions = {}): Promise<Event | undefined> {
    const { status, text } = await this.transport.call({ method: 'POST', path: contextPath(ct, cid) + '/servers', body: { server }, retry: false, signal: o.signal });
    if (status !== 201) return undefined;
    return this.check(JSON.parse(text) as Event, { ct, cid, t: 'server.join' });
  }

  /**
   * Follows context ct/cid live: the events after o.from ('start' for the
   * whole history, absent for from now on), caught-up once the backlog is
   * sent, then each event as it is stored; reconnects and resumes by
   * itself (follow.ts). Ends on an answer that will not change
   * (invalid_cursor, 401/403 after a fresh token, not_found) or an event
   * that does not verify, by throwing; or when the loop breaks.
   */
  follow(ct: string, cid: string, o: FollowOptions = {}): AsyncGenerator<StreamMessage, void, undefined> {
    return follow(this.transport, { path: contextPath(ct, cid) + '/stream', query: { t: o.t }, want: { ct, cid } }, o);
  }

  /** Follows the server-wide stream: every context the token may read, or those of type o.ct. */
  followServer(o: ServerFollowOptions = {}): AsyncGenerator<StreamMessage, void, undefined> {
    const want: Expect = o.ct ? { ct: o.ct } : {};
    return follow(this.transport, { path: '/api/v1/stream', query: { ct: o.ct, t: o.t }, want }, o);
  }

  /** A WebSocket gateway connection (GET /api/v1/gateway); call its connect() to open it. */
  gateway(o: GatewayOptions): Gateway {
    return new Gateway(this.transport, o);
  }
}
