// What ties the client to api/openapi.yaml: each operationId with its
// method, path and the Client method that makes it, and the members of
// each schema with those it requires. The compiler holds these lists to the
// TypeScript types (a member missing or extra, or required where the type
// has it optional, fails the build), and test/openapi.test.js holds them
// to openapi.yaml: so the types and the API description move together.

import type { Client } from './client.js';
import type { Append, AuditProblem, CreateContext, Event, FederationStatus, Health, Leaves, Page, PeerStatus, Problem, Report, Share, Summary, Update } from './types.js';

/** Every operation of openapi.yaml, by operationId. */
export const OPERATIONS = {
  getHealth: { method: 'get', path: '/healthz', call: 'health' },
  getReady: { method: 'get', path: '/readyz', call: 'ready' },
  getOpenAPI: { method: 'get', path: '/openapi.yaml', call: 'openAPI' },
  getMetrics: { method: 'get', path: '/metrics', call: 'metrics' },
  getFederationStatus: { method: 'get', path: '/api/v1/federation/status', call: 'federationStatus' },
  createContext: { method: 'post', path: '/api/v1/contexts/{ct}/{cid}', call: 'createContext' },
  getContext: { method: 'get', path: '/api/v1/contexts/{ct}/{cid}', call: 'context' },
  appendEvent: { method: 'post', path: '/api/v1/contexts/{ct}/{cid}/events', call: 'append' },
  listEvents: { method: 'get', path: '/api/v1/contexts/{ct}/{cid}/events', call: 'list' },
  getEvent: { method: 'get', path: '/api/v1/contexts/{ct}/{cid}/events/{id}', call: 'get' },
  updateEvent: { method: 'patch', path: '/api/v1/contexts/{ct}/{cid}/events/{id}', call: 'update' },
  deleteEvent: { method: 'delete', path: '/api/v1/contexts/{ct}/{cid}/events/{id}', call: 'delete' },
  openGateway: { method: 'get', path: '/api/v1/gateway', call: 'gateway' },
  getLeaves: { method: 'get', path: '/api/v1/contexts/{ct}/{cid}/leaves', call: 'leaves' },
  followContext: { method: 'get', path: '/api/v1/contexts/{ct}/{cid}/stream', call: 'follow' },
  followServer: { method: 'get', path: '/api/v1/stream', call: 'followServer' },
  shareContext: { method: 'post', path: '/api/v1/contexts/{ct}/{cid}/servers', call: 'share' },
  verifyContext: { method: 'get', path: '/api/v1/contexts/{ct}/{cid}/verify', call: 'audit' },
} as const satisfies Record<string, { method: string; path: string; call: keyof Client }>;

type Members<T> = keyof T & string;
type RequiredMembers<T> = { [K in keyof T]-?: object extends Pick<T, K> ? never : K }[keyof T] & string;
/** L itself when its items are exactly the union U, never otherwise. */
type Exactly<U, L extends readonly string[]> = [L[number]] extends [U] ? ([U] extends [L[number]] ? L : never) : never;

/** A schema's members and required members, checked against type T. */
function members<T>() {
  return <const A extends readonly Members<T>[], const R extends readonly RequiredMembers<T>[]>(
    where: string,
    all: A & Exactly<Members<T>, A>,
    required: R & Exactly<RequiredMembers<T>, R>,
  ) => ({ where, all: [...all] as string[], required: [...required] as string[] });
}

const paths = '#/paths';
const ok = (path: string, method: string) => `${paths}/${path.replaceAll('/', '~1')}/${method}/responses/200/content/application~1json/schema`;

/** Each type of types.ts, where openapi.yaml has its schema (a JSON pointer), its members and required members. */
export const SCHEMAS = {
  Event: members<Event>()('#/components/schemas/Event',
    ['_id', 'clid', 'pids', 'v', 'ts', 'src', 'ct', 'cid', 't', 'dHash', 'o', 'd', 'isLeaf', 'deletedAt', 'sigs'],
    ['_id', 'pids', 'v', 'ts', 'src', 'ct', 'cid', 't', 'dHash']),
  CreateContext: members<CreateContext>()('#/components/schemas/CreateContext', ['t', 'o'], []),
  Append: members<Append>()('#/components/schemas/Append', ['t', 'o', 'clid', 'pids'], ['t']),
  Update: members<Update>()('#/components/schemas/Update', ['set', 'unset'], []),
  Page: members<Page>()('#/components/schemas/Page', ['events', 'start', 'end', 'next'], ['events', 'start', 'end']),
  Summary: members<Summary>()('#/components/schemas/Summary',
    ['ct', 'cid', 'genesis', 'leaves', 'count', 'updated', 'servers', 'version'], ['ct', 'cid', 'genesis', 'leaves', 'count']),
  Report: members<Report>()('#/components/schemas/Report', ['clean', 'contexts', 'events', 'redacted', 'problemsByKind', 'problems'], []),
  AuditProblem: members<AuditProblem>()('#/components/schemas/Report/properties/problems/items', ['kind', 'ct', 'cid', 'event', 'detail'], ['kind', 'ct', 'cid', 'detail']),
  Problem: members<Problem>()('#/components/schemas/Problem', ['type', 'title', 'status', 'detail', 'code', 'instance'], ['type', 'title', 'status', 'code']),
  FederationStatus: members<FederationStatus>()(ok('/api/v1/federation/status', 'get'), ['peers'], []),
  PeerStatus: members<PeerStatus>()(ok('/api/v1/federation/status', 'get') + '/properties/peers/items',
    ['peer', 'sending', 'failing', 'lastError', 'lastSuccess', 'retries', 'eventsSent', 'outboxVersions', 'oldestUndelivered'], []),
  Leaves: members<Leaves>()(ok('/api/v1/contexts/{ct}/{cid}/leaves', 'get'), ['leaves'], ['leaves']),
  Health: members<Health>()(ok('/healthz', 'get'), ['status'], []),
  Share: members<Share>()(`${paths}/${'/api/v1/contexts/{ct}/{cid}/servers'.replaceAll('/', '~1')}/post/requestBody/content/application~1json/schema`, ['server'], ['server']),
};
