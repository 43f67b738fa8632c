// The API's types, as api/openapi.yaml describes them (components/schemas
// and the inline answers). test/openapi.test.js holds the two in step,
// through the field lists of schema.ts.

/** A JSON value as event data holds it. */
export type JSONValue = null | boolean | number | string | JSONValue[] | { [member: string]: JSONValue };

/** Event data (`o`, `d`): a JSON object (docs/hashing.md for its rules). */
export type Data = { [member: string]: JSONValue };

/** An event (IEvent, schema version 2). */
export interface Event {
  _id: string;
  /** The client's id for the event, when it gave one. */
  clid?: string;
  /** Parent ids, sorted; empty only for a context's genesis. */
  pids: string[];
  v: number;
  /** Milliseconds since the epoch, by the origin's clock. */
  ts: number;
  /** The server the event originated on. */
  src: string;
  ct: string;
  cid: string;
  t: string;
  dHash: string;
  /** The original data; absent once deleted. */
  o?: Data;
  /** The current data (after updates); absent once deleted. */
  d?: Data;
  /** Present (true) only on events without children; never on streams. */
  isLeaf?: true;
  /** When the event was deleted; `o` and `d` are then absent. */
  deletedAt?: number;
  /** The origin server's signatures over `_id`, by key id. */
  sigs?: Record<string, string>;
}

/** The body of createContext: the genesis event. */
export interface CreateContext {
  /** The genesis event's type; defaults to the context type. */
  t?: string;
  o?: Data;
}

/** The body of append. */
export interface Append {
  t: string;
  o?: Data;
  /** The client's id for the message, unique in the context: makes the append safe to retry. */
  clid?: string;
  /** The leaves the client expects; 409 conflict if they are not the current ones. */
  pids?: string[];
}

/** The body of update: members of `d` set and removed, by path ("msg", "u.name"). */
export interface Update {
  set?: Record<string, JSONValue>;
  unset?: string[];
}

/** A page of a context's timeline. Cursors are opaque: pass them back. */
export interface Page {
  /** In the direction asked for (newest first for dir=b). */
  events: Event[];
  /** The boundary the page starts at. */
  start: string;
  /** The boundary past everything the page covers. */
  end: string;
  /** The next page's cursor; absent at the end (dir=f) or the genesis (dir=b). */
  next?: string;
}

/** A context's summary. */
export interface Summary {
  ct: string;
  cid: string;
  genesis: string;
  leaves: string[];
  count: number;
  updated?: number;
  servers?: string[];
  version?: number;
}

/** One problem an audit found. */
export interface AuditProblem {
  kind: string;
  ct: string;
  cid: string;
  event?: string;
  detail: string;
}

/** The server's integrity report of a context (GET …/verify). */
export interface Report {
  clean?: boolean;
  contexts?: number;
  events?: number;
  redacted?: number;
  problemsByKind?: Record<string, number>;
  problems?: AuditProblem[];
}

/** An RFC 9457 problem with the server's stable code. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  code: string;
  instance?: string;
}

/** Delivery to one federation peer. */
export interface PeerStatus {
  peer?: string;
  sending?: boolean;
  failing?: boolean;
  lastError?: string;
  lastSuccess?: string;
  retries?: number;
  eventsSent?: number;
  outboxVersions?: number;
  oldestUndelivered?: string;
}

/** GET /api/v1/federation/status. */
export interface FederationStatus {
  peers?: PeerStatus[];
}

/** GET /api/v1/contexts/{ct}/{cid}/leaves. */
export interface Leaves {
  leaves: string[];
}

/** GET /healthz and /readyz. */
export interface Health {
  status?: string;
}

/** The body of shareContext. */
export interface Share {
  server: string;
}
