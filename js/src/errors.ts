// Problems as typed errors: every failure of a call is an EventStoreError
// carrying the server's stable code (docs/api.md), so that callers
// switch on `err.code`, never on a message.

import type { Event, Problem } from './types.js';

/** The codes the server gives (docs: README "Errors"); others may come. */
export type ErrorCode =
  | 'invalid_request'
  | 'invalid_data'
  | 'invalid_cursor'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'unsupported_media_type'
  | 'conflict'
  | 'clid_conflict'
  | 'context_exists'
  | 'gone'
  | 'too_large'
  | 'rate_limited'
  | 'unavailable'
  | 'out_of_space'
  | 'internal'
  // gateway closing codes (docs/gateway.md)
  | 'heartbeat_timeout'
  | 'duplicate_client'
  | 'token_expired'
  | 'slow_consumer'
  | (string & {});

/**
 * A failed call: the server's problem (its `code`, HTTP `status` and
 * `detail`), or, without a problem body, the code the HTTP status stands
 * for. A request that got no answer at all is `unavailable` with status 0.
 */
export class EventStoreError extends Error {
  readonly code: ErrorCode;
  /** The HTTP status of the answer; 0 when none came. */
  readonly status: number;
  /** The problem body as the server sent it, if it sent one. */
  readonly problem?: Problem;
  /** Milliseconds the server asked to wait (Retry-After), if it did. */
  readonly retryAfterMs?: number;

  constructor(code: ErrorCode, message: string, init: { status?: number; problem?: Problem; retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'EventStoreError';
    this.code = code;
    this.status = init.status ?? 0;
    if (init.problem) this.problem = init.problem;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
  }
}

/**
 * An event received that does not verify: its `_id` or `dHash` does not
 * recompute from its fields, or it is not of the context (or not the event)
 * asked for. Its code is `invalid_data`; `instanceof IntegrityError` tells
 * it from a refusal by the server. The event is not data: drop it.
 */
export class IntegrityError extends EventStoreError {
  /** The event as received. */
  readonly event: unknown;

  constructor(event: unknown, reason: string) {
    const id = typeof event === 'object' && event !== null ? (event as Partial<Event>)._id : undefined;
    super('invalid_data', `event ${String(id)} does not verify: ${reason}`);
    this.name = 'IntegrityError';
    this.event = event;
  }
}

/** The code an HTTP status stands for (the reverse of the server's map). */
export function statusCode(status: number): ErrorCode {
  switch (status) {
    case 401: return 'unauthorized';
    case 403: return 'forbidden';
    case 404: return 'not_found';
    case 409: return 'conflict';
    case 410: return 'gone';
    case 413: return 'too_large';
    case 429: return 'rate_limited';
    case 502: case 503: case 504: return 'unavailable';
  }
  return status >= 400 && status < 500 ? 'invalid_request' : 'internal';
}

/**
 * The error of a failed answer: the problem's code and detail when the body
 * is a problem, else the code of the status and the start of the body.
 */
export function responseError(what: string, status: number, contentType: string | null, body: string, retryAfterMs?: number): EventStoreError {
  const media = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (media === 'application/problem+json' || media === 'application/json') {
    try {
      const p = JSON.parse(body) as Problem;
      if (p && typeof p === 'object' && typeof p.code === 'string' && p.code !== '') {
        return new EventStoreError(p.code, p.detail || p.title || p.code, { status, problem: p, retryAfterMs });
      }
    } catch { /* not a problem: below */ }
  }
  const text = body.slice(0, 200).split(/\s+/).filter(Boolean).join(' ');
  return new EventStoreError(statusCode(status), `${what}: HTTP ${status}${text ? ': ' + text : ''}`, { status, retryAfterMs });
}
