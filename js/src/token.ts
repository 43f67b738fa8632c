// The bearer token: a fixed string (a service token, for a backend), or a
// function that returns a fresh client token (a browser's, minted by the
// app's backend). The function is called when there is none yet, when the
// one held has expired by its JWT `exp`, and when the server refuses it
// (401, or 403 which a token naming more rooms may lift); calls at the same
// time share one answer.

/** A token, or a function that returns a fresh one. */
export type TokenSource = string | (() => string | Promise<string>);

/** Seconds before `exp` at which a client token counts as expired. */
const expirySkewSeconds = 5;

export class TokenKeeper {
  private readonly source: TokenSource | undefined;
  private token: string | undefined;
  private pending: Promise<string> | undefined;

  constructor(source: TokenSource | undefined) {
    this.source = source;
    if (typeof source === 'string') this.token = source;
  }

  /** Whether a fresh token can be had: the source is a function. */
  get renewable(): boolean {
    return typeof this.source === 'function';
  }

  /** The token to send: the one held, unless it has expired; undefined without tokens. */
  async current(): Promise<string | undefined> {
    if (this.source === undefined) return undefined;
    if (this.token !== undefined && !(this.renewable && expired(this.token))) return this.token;
    return this.renew();
  }

  /** A fresh token from the source (the fixed one when it is a string). */
  async renew(): Promise<string> {
    if (typeof this.source !== 'function') return this.token ?? '';
    if (!this.pending) {
      const source = this.source;
      this.pending = (async () => {
        try {
          const t = await source();
          if (typeof t !== 'string' || t === '') throw new TypeError('the token function returned no token');
          this.token = t;
          return t;
        } finally {
          this.pending = undefined;
        }
      })();
    }
    return this.pending;
  }
}

/** Whether a JWT's `exp` has passed (with a few seconds to spare); false for a token that is not a JWT or has no exp. */
export function expired(token: string, nowMs = Date.now()): boolean {
  const exp = jwtExpiry(token);
  return exp !== undefined && exp - expirySkewSeconds <= nowMs / 1000;
}

/** A JWT's `exp` (seconds since the epoch), read without checking its signature; undefined if absent. */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const b64 = parts[1]!.replaceAll('-', '+').replaceAll('_', '/');
    const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)))) as { exp?: unknown };
    return typeof claims.exp === 'number' ? claims.exp : undefined;
  } catch {
    return undefined;
  }
}
