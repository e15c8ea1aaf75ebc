import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseDuration } from '../../src/duration.js';

describe('parseDuration', () => {
  const valid: ReadonlyArray<readonly [string, number]> = [
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['2m30s500ms', 150_500],
    ['.5s', 500],
    ['1500us', 2],
    ['1000000ns', 1],
    ['0', 0],
    ['0s', 0],
  ];
  for (const [text, ms] of valid) {
    it(`when given ${JSON.stringify(text)}, then returns ${ms} ms`, () => {
      assert.equal(parseDuration(text), ms);
    });
  }

  it('when the text has surrounding spaces, then they are ignored', () => {
    assert.equal(parseDuration('  30s \n'), 30_000);
  });

  const invalid = ['banana', '-5s', '5', '', '5x', '   ', 's', '1h 30m', '+5s', '5S', '1..5s', '0x10s'];
  for (const text of invalid) {
    it(`when given ${JSON.stringify(text)}, then returns undefined`, () => {
      assert.equal(parseDuration(text), undefined);
    });
  }
});

describe('formatDuration', () => {
  const cases: ReadonlyArray<readonly [number, string]> = [
    [0, '0s'],
    [500, '500ms'],
    [1000, '1s'],
    [30_000, '30s'],
    [90_000, '1m30s'],
    [3_600_000, '1h'],
    [5_400_000, '1h30m'],
    [3_661_001, '1h1m1s1ms'],
  ];
  for (const [ms, text] of cases) {
    it(`when given ${ms} ms, then writes ${JSON.stringify(text)}`, () => {
      assert.equal(formatDuration(ms), text);
    });
  }

  it('when a formatted duration is parsed back, then the milliseconds are unchanged', () => {
    for (const ms of [0, 1, 999, 1000, 61_000, 5_400_000, 86_400_000 + 1]) {
      assert.equal(parseDuration(formatDuration(ms)), ms);
    }
  });
});
