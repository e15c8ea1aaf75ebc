import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { TObject } from '@sinclair/typebox';
import { HealthSchema, PostSchema, PostsPage, RunSchema, StatusSchema } from '../../src/api/schemas.js';
import { SETTINGS } from '../../src/config.js';
import { ERROR_CODES } from '../../src/errors.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
/** The text of one `## ` section, so tables of other sections (the soak's variables) are not read as config. */
const section = (title: string) => readme.split(/^## /m).find((part) => part.startsWith(`${title}\n`)) ?? '';

describe('README', () => {
  it('when the configuration table is read, then it lists every setting with its default and description, in order', () => {
    const rows = [...section('Configuration').matchAll(/^\| `([A-Z0-9_]+)` \| (`[^`]*`|\(empty\)) \| (.*) \|$/gm)].map(([, name, value, description]) => [
      name,
      value === '(empty)' ? '' : value?.slice(1, -1),
      description,
    ]);
    assert.deepEqual(rows, Object.values(SETTINGS).map((s) => [s.env, s.default, s.description]));
  });

  it('when the API examples are read, then each answer has exactly the fields its schema gives, in order', () => {
    const answers = new Map(
      [...section('API').matchAll(/^\$ curl -s '?localhost:8080(\/[^\s']*)'?\n(.+)$/gm)].map(([, path, body]) => [path, JSON.parse(body ?? '') as Record<string, unknown>]),
    );
    const fields = (schema: TObject) => Object.keys(schema.properties);
    const answer = (path: string) => answers.get(path) ?? assert.fail(`no example of ${path}`);
    assert.deepEqual(Object.keys(answer('/health')), fields(HealthSchema));
    assert.deepEqual(Object.keys(answer('/posts?limit=2')), fields(PostsPage));
    assert.deepEqual(Object.keys(answer('/posts/1')), fields(PostSchema));
    assert.deepEqual(Object.keys(answer('/status')), fields(StatusSchema));
    const [run] = answer('/runs?limit=1').runs as Record<string, unknown>[];
    assert.deepEqual(Object.keys(run ?? {}), fields(RunSchema));
  });

  it('when the error table is read, then it lists every code of the catalog', () => {
    const documented = [...readme.matchAll(/^\| `([A-Z_]+)` \| (\d{3}|start-up|run) \|/gm)].map(([, code]) => code).sort();
    assert.deepEqual(documented, [...ERROR_CODES].sort());
  });
});
