// The README's examples type-check against the client's declarations
// (dist/*.d.ts): each ```js block is compiled by tsc as checked
// JavaScript, with the page's own functions (show, pending, …) declared.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { jsDir } from './helpers.js';

const page = `declare function show(events: import('@eventstore/client').Event[]): void;
declare function showOlder(events: import('@eventstore/client').Event[]): void;
declare function markLive(): void;
declare function showOffline(code: string): void;
declare function pending(clid: string, text: string): void;
declare function confirmed(clid: string, e: import('@eventstore/client').Event): void;
declare function failed(clid: string, code: string): void;
declare const page: import('@eventstore/client').Page;
declare const es: import('@eventstore/client').Client;
declare const clid: string;
`;

test('the README\'s examples type-check', () => {
  const readme = readFileSync(join(jsDir, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length >= 2, `${blocks.length} js blocks`);
  const dir = mkdtempSync(join(tmpdir(), 'es-readme-'));
  try {
    const files = blocks.map((b, i) => {
      const f = `block${i}.mjs`;
      // Each block is a module of its own; later ones use what the first declares.
      writeFileSync(join(dir, f), (b.includes('import ') ? '' : "import { Client } from '@eventstore/client';\n") + b + '\nexport {};\n');
      return f;
    });
    writeFileSync(join(dir, 'page.d.ts'), page);
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        allowJs: true, checkJs: true, noEmit: true, strict: false, noImplicitAny: false, skipLibCheck: true,
        target: 'ES2023', lib: ['ES2023', 'DOM', 'DOM.Iterable'], module: 'NodeNext', moduleResolution: 'NodeNext', types: [],
        paths: { '@eventstore/client': [join(jsDir, 'dist/index.d.ts')] },
      },
      files: ['page.d.ts', ...files],
    }));
    try {
      execFileSync(process.execPath, [join(jsDir, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8' });
    } catch (err) {
      assert.fail(`README examples do not type-check:\n${err.stdout}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
