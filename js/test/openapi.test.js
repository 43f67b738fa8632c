// The client and api/openapi.yaml in step: every operation has an
// operationId that OPERATIONS maps to a Client method with the same method
// and path, and every schema has the members (and required members) of its
// TypeScript type, whose lists the compiler holds to the types (schema.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { Client, OPERATIONS, SCHEMAS } from '../dist/index.js';
import { root } from './helpers.js';

const doc = parse(readFileSync(join(root, 'api/openapi.yaml'), 'utf8'));
const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** The node a local JSON pointer names, following $refs on the way. */
function at(pointer) {
  let node = doc;
  for (const raw of pointer.replace(/^#\//, '').split('/')) {
    node = deref(node)[raw.replaceAll('~1', '/').replaceAll('~0', '~')];
    assert.ok(node !== undefined, `${pointer}: no ${raw}`);
  }
  return deref(node);
}

function deref(node) {
  while (node && typeof node === 'object' && typeof node.$ref === 'string') node = at(node.$ref);
  return node;
}

test('every operation has an operationId that the client implements', () => {
  const seen = new Set();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of methods) {
      const op = item[method];
      if (!op) continue;
      assert.ok(op.operationId, `${method.toUpperCase()} ${path} has no operationId`);
      assert.ok(!seen.has(op.operationId), `operationId ${op.operationId} is used twice`);
      seen.add(op.operationId);
      const mine = OPERATIONS[op.operationId];
      assert.ok(mine, `the client has no call for ${op.operationId} (${method.toUpperCase()} ${path})`);
      assert.deepEqual([mine.method, mine.path], [method, path], op.operationId);
      assert.equal(typeof Client.prototype[mine.call], 'function', `Client.${mine.call}`);
    }
  }
  assert.deepEqual([...seen].sort(), Object.keys(OPERATIONS).sort(), 'operations the client knows but openapi.yaml does not');
  assert.ok(seen.size >= 18);
});

test('the client types have the members of their schemas', () => {
  for (const [name, s] of Object.entries(SCHEMAS)) {
    const schema = at(s.where);
    assert.equal(schema.type, 'object', `${name}: ${s.where} is not an object schema`);
    assert.deepEqual(Object.keys(schema.properties ?? {}).sort(), [...s.all].sort(), `${name}: members of ${s.where}`);
    assert.deepEqual([...(schema.required ?? [])].sort(), [...s.required].sort(), `${name}: required members of ${s.where}`);
  }
  // Every component schema of object type is one of them.
  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    if (schema.type === 'object' && schema.properties) assert.ok(SCHEMAS[name], `components/schemas/${name} has no client type`);
  }
});

test('the problem codes of openapi.yaml and of the server (error.go) are ErrorCode members', async () => {
  const src = readFileSync(join(root, 'js/src/errors.ts'), 'utf8');
  const server = [...readFileSync(join(root, 'error.go'), 'utf8').matchAll(/Code = "([a-z_]+)"/g)].map((m) => m[1]);
  const documented = at('#/components/schemas/Problem/properties/code').enum ?? [];
  assert.ok(server.length >= 10, `codes in error.go: ${server}`);
  assert.ok(documented.length >= 10, `codes in the Problem schema: ${documented}`);
  for (const code of new Set([...server, ...documented])) assert.match(src, new RegExp(`\\| '${code}'`), `ErrorCode lacks ${code}`);
});
