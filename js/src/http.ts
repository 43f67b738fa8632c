// One API call over fetch, with the Go client's retry rules (client/retry.go):
// a call that cannot store twice (reads, and appends with a clid) is tried
// again on network errors, 5xx (but 501) and 429, with "full jitter"
// backoff and the server's Retry-After; anything else is sent once. A call
// refused with 401 or 403 is sent again once with a fresh token when the
// token comes from a function: nothing is stored when a call is refused.

import { EventStoreError, responseError } from './errors.js';
import { TokenKeeper, type TokenSource } from './token.js';

/** Tries of a call that may be retried. */
export const defaultAttempts = 4;
/** The first backoff's upper bound, in ms; it doubles up to maxBackoffMs. */
export const defaultRetryBaseMs = 100;
/** A stream silent (heartbeats included) this long is taken for dead: three of the server's 15 s heartbeats. */
export const defaultIdleTimeoutMs = 45_000;
const maxBackoffMs = 5_000;
const maxRetryAfterMs = 10_000;

/** What the client is built with. */
export interface ClientOptions {
  /** A bearer token, or a function returning a fresh client token (called when it expires or is refused). */
  token?: TokenSource;
  /** Verify every event received (its _id and dHash recomputed; the context asked for): default true. */
  verify?: boolean;
  /** Tries in all of a call that may be retried (1: never again); default 4. */
  attempts?: number;
  /** The first backoff's upper bound in ms, doubling per try up to 5 s; default 100. */
  retryBaseMs?: number;
  /** How long a stream may stay silent before it is reconnected, in ms (0: never); default 45,000. */
  idleTimeoutMs?: number;
  /** The fetch to use; globalThis.fetch by default. */
  fetch?: typeof fetch;
  /** The WebSocket constructor for the gateway; globalThis.WebSocket by default. */
  WebSocket?: typeof WebSocket;
}

/** A call to make. */
export interface Call {
  method: string;
  path: string; // escaped, after the base URL
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** Sending it again cannot change what is stored. */
  retry: boolean;
  signal?: AbortSignal | undefined;
  accept?: string;
}

/** The settings and the token every call shares. */
export class Transport {
  readonly base: string;
  readonly tokens: TokenKeeper;
  readonly verify: boolean;
  readonly attempts: number;
  readonly retryBaseMs: number;
  readonly idleTimeoutMs: number;
  readonly fetch: typeof fetch;
  readonly WebSocket: typeof WebSocket | undefined;

  constructor(baseURL: string, o: ClientOptions = {}) {
    let u: URL;
    try {
      u = new URL(baseURL, (globalThis as { location?: { href: string } }).location?.href);
    } catch (err) {
      throw new EventStoreError('invalid_request', `base URL ${JSON.stringify(baseURL)}: ${(err as Error).message}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new EventStoreError('invalid_request', `base URL ${JSON.stringify(baseURL)}: the scheme must be http or https`);
    if (u.search || u.hash || u.username || u.password) throw new EventStoreError('invalid_request', `base URL ${JSON.stringify(baseURL)}: give scheme, host and path only`);
    this.base = (u.origin + u.pathname).replace(/\/+$/, '');
    this.tokens = new TokenKeeper(o.token);
    this.verify = o.verify ?? true;
    this.attempts = Math.max(1, o.attempts ?? defaultAttempts);
    this.retryBaseMs = o.retryBaseMs ?? defaultRetryBaseMs;
    this.idleTimeoutMs = o.idleTimeoutMs ?? defaultIdleTimeoutMs;
    this.fetch = o.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.WebSocket = o.WebSocket ?? (globalThis as { WebSocket?: typeof WebSocket }).WebSocket;
  }

  url(path: string, query?: Record<string, string | number | undefined>): string {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== '') q.set(k, String(v));
    const s = q.toString();
    return this.base + path + (s ? '?' + s : '');
  }

  /** Makes the call, with retries if it allows them; the answer's status and body text. */
  async call(c: Call): Promise<{ status: number; text: string }> {
    const body = c.body === undefined ? undefined : JSON.stringify(c.body);
    const what = `${c.method} ${c.path}`;
    let renewed = false;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { Accept: c.accept ?? 'application/json, application/problem+json' };
      const token = await this.tokens.current();
      if (token) headers['Authorization'] = 'Bearer ' + token;
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      let status = 0;
      let failure: EventStoreError;
      let retryAfterMs = 0;
      try {
        const resp = await this.fetch(this.url(c.path, c.query), { method: c.method, headers, body, signal: c.signal ?? null, cache: 'no-store' });
        status = resp.status;
        const text = await resp.text();
        if (resp.ok) return { status, text };
        retryAfterMs = retryAfter(resp.headers.get('Retry-After'));
        failure = responseError(what, status, resp.headers.get('Content-Type'), text, retryAfterMs || undefined);
      } catch (err) {
        if (c.signal?.aborted) throw c.signal.reason;
        status = 0; // no (whole) answer
        failure = new EventStoreError('unavailable', `${what} ${this.base}: ${(err as Error)?.message ?? err}`, { status, cause: err });
      }
      if ((status === 401 || status === 403) && this.tokens.renewable && !renewed) {
        renewed = true; // refused: nothing was stored, so once more with a fresh token
        await this.tokens.renew();
        attempt--;
        continue;
      }
      if (!c.retry || !mayPassLater(status) || attempt + 1 >= this.attempts) throw failure;
      await sleep(this.backoff(attempt, retryAfterMs), c.signal);
    }
  }

  /** Makes the call and decodes its JSON answer. */
  async json<T>(c: Call): Promise<{ status: number; value: T }> {
    const { status, text } = await this.call(c);
    try {
      return { status, value: JSON.parse(text) as T };
    } catch (err) {
      throw new EventStoreError('internal', `${c.method} ${c.path}: decoding the answer: ${(err as Error).message}`, { status, cause: err });
    }
  }

  /** The wait before try number attempt+2: what the server asked, or up to base·2^attempt at random (at most 5 s). */
  backoff(attempt: number, askedMs = 0): number {
    if (askedMs > 0) return askedMs;
    return Math.random() * Math.min(maxBackoffMs, this.retryBaseMs * 2 ** Math.min(attempt, 30));
  }
}

/** Whether an answer with this status may be different later: none (0), 429, 5xx but 501. */
export function mayPassLater(status: number): boolean {
  return status === 0 || status === 429 || (status >= 500 && status !== 501);
}

/** A Retry-After header in ms, seconds or an HTTP date, at most 10 s; 0 when absent or unreadable. */
export function retryAfter(h: string | null, nowMs = Date.now()): number {
  if (!h) return 0;
  let ms = 0;
  if (/^\d+$/.test(h.trim())) ms = Number(h.trim()) * 1000;
  else if (!Number.isNaN(Date.parse(h))) ms = Date.parse(h) - nowMs;
  return Math.min(Math.max(ms, 0), maxRetryAfterMs);
}

/** Waits ms, or until signal aborts (rejecting with its reason). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const done = () => {
      signal?.removeEventListener('abort', abort);
      resolve();
    };
    const t = setTimeout(done, Math.max(0, ms));
    const abort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', abort, { once: true });
  });
}
