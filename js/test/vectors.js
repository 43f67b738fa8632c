// The hashing vectors: the spec's (../shared/spec, where it is checked out
// beside the project) and the project's own (testdata/vectors.json).

import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './helpers.js';

/** [[name of the set, vectors]…]. */
export function loadVectors() {
  const sets = [];
  const shared = join(root, '../shared/spec/vectors.json');
  if (existsSync(shared)) sets.push(['shared/spec', JSON.parse(readFileSync(shared, 'utf8'))]);
  sets.push(['testdata', JSON.parse(readFileSync(join(root, 'testdata/vectors.json'), 'utf8')).vectors]);
  return sets;
}
