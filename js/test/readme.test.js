// The READMEs' examples type-check against the client's declarations
// (dist/*.d.ts): each ```js block of js/README.md and of the top-level
// README.md (its "From JavaScript" section and the lines that use the
// client under streams, client tokens and the gateway) is compiled by tsc
// as checked JavaScript, with the page's own functions (show, pending, …)
// declared.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { jsDir, root } from './helpers.js';

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

/** The ```js blocks of a markdown text. */
function jsBlocks(markdown) {
  return [...markdown.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
}

/** Compiles the blocks with tsc, each a module of its own; fails with tsc's output. */
function typeCheck(name, blocks) {
  const dir = mkdtempSync(join(tmpdir(), 'es-readme-'));
  try {
    const files = blocks.map((b, i) => {
      const f = `block${i}.mjs`;
      // Later blocks use what the first declares (es, page), declared in page.d.ts.
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
      assert.fail(`${name}'s examples do not type-check (blockN is its N-th js block, from 0):\n${err.stdout}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the README\'s examples type-check', () => {
  const blocks = jsBlocks(readFileSync(join(jsDir, 'README.md'), 'utf8'));
  assert.ok(blocks.length >= 2, `${blocks.length} js blocks`);
  typeCheck('js/README.md', blocks);
});

test('the top-level README\'s JavaScript examples type-check', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('### From JavaScript');
  assert.ok(start >= 0, 'README.md has no "From JavaScript" section');
  const section = readme.slice(start, readme.indexOf('\n#', start + 1));
  assert.ok(jsBlocks(section).some((b) => b.includes("from '@eventstore/client'")), 'its "From JavaScript" section has no js block importing the client');
  typeCheck('README.md', jsBlocks(readme));
});
