import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_ID, validatePost, type Stamp } from '../../src/ingest/validate-post.js';

const STAMP: Stamp = { ingestedAt: '2024-05-01T12:00:00.000Z', source: 'placeholder_api' };
const VALID = { userId: 1, id: 7, title: 'a title', body: 'a body' } as const;

/** The rejection reason for `raw`, failing the test when it is accepted. */
function reasonFor(raw: unknown): string {
  const result = validatePost(raw, STAMP);
  assert.equal(result.ok, false, `expected ${JSON.stringify(raw)} to be rejected`);
  return result.ok ? '' : result.reason;
}

describe('validatePost', () => {
  it('when the record is valid, then the post has exactly the four upstream fields plus the stamp', () => {
    const result = validatePost({ ...VALID }, STAMP);
    assert.deepEqual(result, {
      ok: true,
      post: { userId: 1, id: 7, title: 'a title', body: 'a body', ingested_at: STAMP.ingestedAt, source: STAMP.source },
    });
  });

  it('when the record has extra fields, then they are dropped', () => {
    const result = validatePost({ ...VALID, extra: 'x', nested: { a: 1 }, ingested_at: 'forged', source: 'forged' }, STAMP);
    assert.ok(result.ok);
    assert.deepEqual(Object.keys(result.post).sort(), ['body', 'id', 'ingested_at', 'source', 'title', 'userId']);
    assert.equal(result.post.ingested_at, STAMP.ingestedAt);
    assert.equal(result.post.source, STAMP.source);
  });

  it('when the ids are at the bounds 1 and 2^31-1 and the strings empty or unicode, then the record is valid', () => {
    assert.ok(validatePost({ userId: MAX_ID, id: 1, title: '', body: 'héllo 🌍\n' }, STAMP).ok);
    assert.ok(validatePost({ userId: 1, id: MAX_ID, title: 't', body: '' }, STAMP).ok);
    assert.equal(MAX_ID, 2_147_483_647);
  });

  const notObjects: ReadonlyArray<readonly [string, unknown, RegExp]> = [
    ['null', null, /got null/],
    ['an array', [VALID], /got an array/],
    ['a string', 'post', /got "post"/],
    ['a number', 42, /got 42/],
    ['undefined', undefined, /got nothing/],
    ['a boolean', true, /got true/],
  ];
  for (const [label, raw, got] of notObjects) {
    it(`when the record is ${label}, then it is rejected as not a JSON object`, () => {
      const reason = reasonFor(raw);
      assert.match(reason, /record must be a JSON object/);
      assert.match(reason, got);
    });
  }

  const badFields: ReadonlyArray<readonly [string, Record<string, unknown>, string, RegExp]> = [
    ['id is missing', { userId: 1, title: 't', body: 'b' }, 'id', /got nothing/],
    ['id is 0', { ...VALID, id: 0 }, 'id', /got 0/],
    ['id is -1', { ...VALID, id: -1 }, 'id', /got -1/],
    ['id is 1.5', { ...VALID, id: 1.5 }, 'id', /got 1\.5/],
    ['id is the string "1"', { ...VALID, id: '1' }, 'id', /got "1"/],
    ['id is above 2^31-1', { ...VALID, id: MAX_ID + 1 }, 'id', /got 2147483648/],
    ['id is NaN', { ...VALID, id: Number.NaN }, 'id', /got null/],
    ['id is null', { ...VALID, id: null }, 'id', /got null/],
    ['userId is missing', { id: 1, title: 't', body: 'b' }, 'userId', /got nothing/],
    ['userId is 0', { ...VALID, userId: 0 }, 'userId', /got 0/],
    ['title is not a string', { ...VALID, title: 42 }, 'title', /got 42/],
    ['title is an object', { ...VALID, title: { text: 't' } }, 'title', /got an object/],
    ['body is null', { ...VALID, body: null }, 'body', /got null/],
    ['body is missing', { userId: 1, id: 1, title: 't' }, 'body', /got nothing/],
  ];
  for (const [label, raw, field, got] of badFields) {
    it(`when ${label}, then it is rejected with a reason naming ${field}`, () => {
      const reason = reasonFor(raw);
      assert.ok(reason.startsWith(`${field} must be`), reason);
      assert.match(reason, got);
    });
  }

  it('when an id is rejected, then the reason states the accepted range', () => {
    assert.equal(reasonFor({ ...VALID, id: 0 }), `id must be an integer from 1 to ${MAX_ID}, got 0`);
  });

  it('when the body holds a NUL character, then it is rejected with a reason naming body', () => {
    assert.equal(reasonFor({ ...VALID, body: 'before\u0000after' }), 'body contains a NUL character');
  });

  it('when a text holds an unpaired surrogate, then it is rejected, and a paired one (an emoji) is kept', () => {
    assert.equal(reasonFor({ ...VALID, title: 'lone \ud800 surrogate' }), 'title contains an unpaired UTF-16 surrogate (\\ud800 to \\udfff)');
    assert.equal(reasonFor({ ...VALID, body: 'ends high \udbff' }), 'body contains an unpaired UTF-16 surrogate (\\ud800 to \\udfff)');
    assert.equal(reasonFor({ ...VALID, body: 'low first \udc00\ud800' }), 'body contains an unpaired UTF-16 surrogate (\\ud800 to \\udfff)');
    assert.equal(validatePost({ ...VALID, title: 'pair \ud83d\ude00' }, STAMP).ok, true);
  });

  it('when the title holds a NUL character, then it is rejected with a reason naming title', () => {
    assert.equal(reasonFor({ ...VALID, title: '\u0000' }), 'title contains a NUL character');
  });

  it('when a rejected value is long, then the reason is cut short', () => {
    const reason = reasonFor({ ...VALID, id: 'x'.repeat(500) });
    assert.ok(reason.length < 120, reason);
    assert.ok(reason.endsWith('…'));
  });

  it('when a number cannot be shown as JSON.parse read it, then the reason says what was sent, not null or 0', () => {
    assert.match(reasonFor(JSON.parse('{"userId":1,"id":1e400,"title":"t","body":"b"}')), /^id must be an integer from 1 to \d+, got a number beyond a double's range$/);
    assert.match(reasonFor(JSON.parse('{"userId":-0,"id":1,"title":"t","body":"b"}')), /got -0$/);
    assert.match(reasonFor(JSON.parse('{"userId":1,"id":9007199254740993,"title":"t","body":"b"}')), /got a number beyond 2\^53, read as 9007199254740992$/);
  });

  it('when a long rejected value is cut short, then no emoji is cut in two', () => {
    const reason = reasonFor({ ...VALID, id: `${'x'.repeat(38)}😀😀` });
    assert.ok(reason.isWellFormed(), JSON.stringify(reason));
    assert.ok(reason.endsWith('…'));
  });

  it('when a record is validated, then the input is not modified', () => {
    const raw = { ...VALID, extra: 1 };
    validatePost(raw, STAMP);
    assert.deepEqual(raw, { ...VALID, extra: 1 });
  });
});
