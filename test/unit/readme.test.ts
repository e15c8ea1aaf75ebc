import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { SETTINGS } from '../../src/config.js';
import { ERROR_CODES } from '../../src/errors.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
/** The text of one `## ` section, so tables of other sections (the soak's variables) are not read as config. */
const section = (title: string) => readme.split(/^## /m).find((part) => part.startsWith(`${title}\n`)) ?? '';

describe('README', () => {
  it('when the configuration table is read, then it lists every setting with its default, in order', () => {
    const rows = [...section('Configuration').matchAll(/^\| `([A-Z0-9_]+)` \| (`[^`]*`|\(empty\)) \|/gm)].map(([, name, value]) => [name, value === '(empty)' ? '' : value?.slice(1, -1)]);
    assert.deepEqual(rows, Object.values(SETTINGS).map((s) => [s.env, s.default]));
  });

  it('when the error table is read, then it lists every code of the catalog', () => {
    const documented = [...readme.matchAll(/^\| `([A-Z_]+)` \| (\d{3}|start-up|run) \|/gm)].map(([, code]) => code).sort();
    assert.deepEqual(documented, [...ERROR_CODES].sort());
  });
});
