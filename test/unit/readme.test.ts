import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { SETTINGS } from '../../src/config.js';
import { ERROR_CODES } from '../../src/errors.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('when the configuration table is read, then it lists every setting with its default, in order', () => {
    const rows = [...readme.matchAll(/^\| `([A-Z0-9_]+)` \| (`[^`]*`|\(empty\)) \|/gm)].map(([, name, value]) => [name, value === '(empty)' ? '' : value?.slice(1, -1)]);
    assert.deepEqual(rows, Object.values(SETTINGS).map((s) => [s.env, s.default]));
  });

  it('when the error table is read, then it lists every code of the catalog', () => {
    const documented = [...readme.matchAll(/^\| `([A-Z_]+)` \| (\d{3}|start-up|run) \|/gm)].map(([, code]) => code).sort();
    assert.deepEqual(documented, [...ERROR_CODES].sort());
  });
});
