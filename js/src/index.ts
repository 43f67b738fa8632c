// @eventstore/client: a typed client of the eventstore API for browsers and
// Node >= 20, without runtime dependencies. See README.md.

export { Client, contextPath, type CallOptions, type ListOptions, type ServerFollowOptions } from './client.js';
export { EventStoreError, IntegrityError, type ErrorCode } from './errors.js';
export type { StreamMessage, FollowOptions } from './follow.js';
export { Gateway, type GatewayMessage, type GatewayOptions, type Subscription } from './gateway.js';
export type { ClientOptions } from './http.js';
export { OPERATIONS, SCHEMAS } from './schema.js';
export { expired, jwtExpiry, type TokenSource } from './token.js';
export { canonicalJSON } from './canonical.js';
export { canonicalHead, dataHash, eventId, sha256Hex, verifyEvent, type Expect, type Head } from './verify.js';
export type * from './types.js';
