// follow(): a live stream as an async iterator, read with fetch so that it
// can send the Authorization header (or use ?access_token=), and resumed by
// cursor as the Go client does (client/follow.go). It yields every event
// after `from` exactly once, in timeline order, and the stream's caught-up
// and reset markers, each with its cursor. It reconnects by itself when the
// connection drops, the server answers 5xx or 429, the stream ends (a
// restart, a reset, an expired client token) or stays silent past the idle
// timeout, with backoff and jitter and no limit on attempts, resuming from
// the cursor of the last message it yielded. A reconnect refused with 401
// or 403 asks the token function for a fresh token once before it gives up.

import { EventStoreError, responseError } from './errors.js';
import { mayPassLater, retryAfter, sleep, type Transport } from './http.js';
import { SSEParser, type SSEMessage } from './sse.js';
import type { Event } from './types.js';
import { verifyEvent, type Expect } from './verify.js';

/** One message of a stream, with the cursor where the stream is after it. */
export type StreamMessage =
  | { kind: 'event'; event: Event; cursor: string }
  /** The backlog has been sent: what follows is live (once per connection). */
  | { kind: 'caught-up'; cursor: string }
  /** The server cut the stream off because it fell behind; the iterator resumes by itself. */
  | { kind: 'reset'; cursor: string };

/** Where and how to follow. */
export interface FollowOptions {
  /** A cursor (a page's start, end or next, or a stream message's), or 'start' for the whole history; absent: from now on. */
  from?: string;
  /** Only events of this type ("msg"), or of a prefix ("message.*"). */
  t?: string;
  /** Ends the iteration (its reason is thrown). Breaking out of the loop also closes the connection. */
  signal?: AbortSignal;
  /** How the token travels: the Authorization header (default), or ?access_token= (no preflight header, as an EventSource would). */
  auth?: 'header' | 'query';
}

/** A stream to follow. */
export interface StreamTarget {
  path: string;
  query: Record<string, string | undefined>; // without from
  want: Expect;
}

class IdleTimeout extends Error {}

/** Follows a stream until the loop stops, the signal aborts, or an answer that will not change. */
export async function* follow(tr: Transport, target: StreamTarget, o: FollowOptions = {}): AsyncGenerator<StreamMessage, void, undefined> {
  const state: State = { cursor: '', renewed: false };
  let failures = 0;
  for (;;) {
    o.signal?.throwIfAborted();
    const { progress, waitMs } = yield* connect(tr, target, o, state);
    if (progress) failures = 0;
    if (waitMs !== 0) {
      await sleep(waitMs > 0 ? waitMs : tr.backoff(failures), o.signal);
      failures++;
    }
  }
}

interface State {
  cursor: string; // of the last message yielded
  renewed: boolean; // a fresh token was asked for since the last message
}

/** How a connection ended: whether it yielded, and the wait before the next (-1: backoff). */
interface Ended {
  progress: boolean;
  waitMs: number;
}

/** Opens the stream once, from the cursor held (or o.from while there is none), and yields its messages until it ends. */
async function* connect(tr: Transport, target: StreamTarget, o: FollowOptions, st: State): AsyncGenerator<StreamMessage, Ended, undefined> {
  const ac = new AbortController();
  const abort = () => ac.abort(o.signal!.reason);
  o.signal?.addEventListener('abort', abort, { once: true });
  let idle: ReturnType<typeof setTimeout> | undefined;
  const pause = () => clearTimeout(idle);
  const touch = () => {
    pause();
    if (tr.idleTimeoutMs > 0) idle = setTimeout(() => ac.abort(new IdleTimeout('the stream stayed silent past the idle timeout')), tr.idleTimeoutMs);
  };
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const what = `GET ${target.path}`;
  try {
    const query: Record<string, string | undefined> = { ...target.query };
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    const token = await tr.tokens.current();
    if (token && o.auth === 'query') query['access_token'] = token;
    else if (token) headers['Authorization'] = 'Bearer ' + token;
    if (st.cursor === '') query['from'] = o.from;
    else if (o.auth === 'query') query['from'] = st.cursor;
    else headers['Last-Event-ID'] = st.cursor;
    touch();
    let resp: Response;
    try {
      resp = await tr.fetch(tr.url(target.path, query), { headers, signal: ac.signal, cache: 'no-store' });
    } catch {
      o.signal?.throwIfAborted();
      return { progress: false, waitMs: -1 }; // no answer: again, after a while
    }
    if (resp.status !== 200) {
      const text = await resp.text().catch(() => '');
      const ra = retryAfter(resp.headers.get('Retry-After'));
      const err = responseError(what, resp.status, resp.headers.get('Content-Type'), text, ra || undefined);
      if ((resp.status === 401 || resp.status === 403) && tr.tokens.renewable && !st.renewed) {
        st.renewed = true; // refused: once more at once, with a fresh token
        await tr.tokens.renew();
        return { progress: false, waitMs: 0 };
      }
      if (!mayPassLater(resp.status)) throw err;
      return { progress: false, waitMs: ra > 0 ? ra : -1 };
    }
    const media = (resp.headers.get('Content-Type') ?? '').split(';')[0]!.trim();
    if (media !== 'text/event-stream' || !resp.body) {
      throw new EventStoreError('internal', `${what}: the answer is ${JSON.stringify(media)}, not an event stream`, { status: resp.status });
    }
    reader = resp.body.getReader();
    const decoder = new TextDecoder();
    const parser = new SSEParser();
    let progress = false;
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch {
        o.signal?.throwIfAborted();
        return { progress, waitMs: -1 }; // dropped, or silent too long
      }
      if (chunk.done) return { progress, waitMs: -1 }; // the server ended it (a restart, an expired token)
      touch();
      for (const m of parser.push(decoder.decode(chunk.value, { stream: true }))) {
        const msg = await message(tr, m, target.want);
        if (!msg) continue;
        progress = true;
        st.renewed = false;
        if (msg.cursor) st.cursor = msg.cursor;
        pause();
        yield msg;
        touch();
        if (msg.kind === 'reset') return { progress, waitMs: 0 }; // the server closes the stream after it
      }
    }
  } finally {
    pause();
    o.signal?.removeEventListener('abort', abort);
    ac.abort();
    reader?.cancel().catch(() => {});
  }
}

/** The message of an SSE message; undefined for a kind this client does not know. */
async function message(tr: Transport, m: SSEMessage, want: Expect): Promise<StreamMessage | undefined> {
  switch (m.event) {
    case '':
    case 'message': {
      let e: Event;
      try {
        e = JSON.parse(m.data) as Event;
      } catch (err) {
        throw new EventStoreError('internal', `a stream event: ${(err as Error).message}`, { cause: err });
      }
      if (tr.verify) await verifyEvent(e, want);
      return { kind: 'event', event: e, cursor: m.id };
    }
    case 'caught-up':
      return { kind: 'caught-up', cursor: m.data };
    case 'reset':
      return { kind: 'reset', cursor: m.data };
  }
  return undefined;
}
