import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readOptions } from '../../bench/options.js';
import type { BenchReport, ServingRow } from '../../bench/results.js';
import { bareRouteFor, serviceRoutes, type LoadFigures } from '../../bench/serve-bench.js';
import { summarize, type Summary } from '../../bench/stats.js';
import { renderMarkdown } from '../../bench/table.js';

// The benchmark's verdicts are what the README reports; these tests pin how they are reached.

describe('summarize', () => {
  it('when given an odd count, then the median is the middle run and the runs keep their order', () => {
    assert.deepEqual(summarize([30, 10, 20]), { median: 20, min: 10, max: 30, samples: [30, 10, 20] });
  });

  it('when given an even count, then the median is the mean of the two middle runs', () => {
    assert.deepEqual(summarize([4, 1, 3, 2]), { median: 2.5, min: 1, max: 4, samples: [4, 1, 3, 2] });
  });

  it('when given nothing, then it refuses', () => {
    assert.throws(() => summarize([]), /nothing measured/);
  });
});

const MiB = 1024 ** 2;
const one = (value: number): Summary => summarize([value]);

function figures(requestsPerSecond: number, p99Ms: number | null): LoadFigures {
  return {
    requestsPerSecond: one(requestsPerSecond),
    p50Ms: p99Ms === null ? null : one(1),
    p99Ms: p99Ms === null ? null : one(p99Ms),
    completedRequests: p99Ms === null ? 0 : 1000,
    failedRequests: 0,
  };
}

function getById(store: ServingRow['store'], ratio: number, p99Ms: number | null): ServingRow {
  const [route] = serviceRoutes(1000, Number.POSITIVE_INFINITY);
  assert.ok(route);
  return { store, records: 1000, route, figures: figures(ratio * 10_000, p99Ms), bare: figures(10_000, 2), ratio: one(ratio) };
}

/** A report whose figures are chosen around each target; `overrides` replaces whole sections. */
function report(overrides: Partial<BenchReport> = {}): BenchReport {
  return {
    date: '2026-11-30T00:00:00.000Z',
    durationSeconds: 60,
    machine: { node: 'v20', cpu: 'test CPU', cores: 2, memoryGiB: 24, os: 'Linux', loadAverageStart: 0, loadAverageEnd: 0 },
    settings: { repeats: 1, serveSeconds: 10, connections: 50, sizes: {}, sizeNotes: {} },
    versions: { sqlite: 'SQLite' },
    throughput: [
      { store: 'sqlite', size: 'small', records: 10_000, service: one(60_000), reportedMs: one(160), endToEndMs: one(166), rawPath: 'raw', raw: one(100_000) },
      { store: 'sqlite', size: 'large', records: 1_000_000, service: one(49_960), reportedMs: one(19_000), endToEndMs: one(20_000), rawPath: 'raw', raw: one(100_000) },
    ],
    reingestion: [{ store: 'sqlite', records: 1_000_000, firstMs: one(4000), secondMs: one(2500), speedup: one(1.6), changedOnSecond: [0] }],
    memory: [
      { store: 'sqlite', scenario: 'ingest', records: 1_000_000, peakBytes: one(200 * MiB), baselineRecords: 10_000, baselineBytes: one(130 * MiB) },
      { store: 'sqlite', scenario: 'paging', records: 1_000_000, peakBytes: one(300 * MiB), baselineRecords: 10_000, baselineBytes: one(130 * MiB) },
    ],
    serving: [getById('sqlite', 0.7, 5), getById('postgresql', 0.5, 25), getById('dynamodb', 0.1, 90)],
    bareStartupMs: one(150),
    startup: [{ store: 'sqlite', records: 1_000_000, startupMs: one(450) }],
    failures: [],
    ...overrides,
  };
}

/** The table row of a section whose first cells are `cells`. */
function row(markdown: string, ...cells: string[]): string {
  const found = markdown.split('\n').find((line) => line.startsWith(`| ${cells.join(' | ')} |`));
  assert.ok(found, `no row starting with ${cells.join(' | ')}`);
  return found;
}

function missedList(markdown: string): string[] {
  const [, after = ''] = markdown.split('### Targets missed\n\n');
  return after.trim().split('\n');
}

describe('renderMarkdown', () => {
  const markdown = renderMarkdown(report());

  it('when the service reaches half the raw rate, then ingestion passes', () => {
    assert.match(row(markdown, 'sqlite', '10,000'), /\| 0\.60× \| ≥ 0\.50× \| PASS \|$/);
  });

  it('when a ratio misses by less than it rounds to, then the miss never reads as 0% short', () => {
    assert.match(row(markdown, 'sqlite', '1,000,000', '49,960'), /\*\*MISS\*\*: 0\.50×, under 1% short of 0\.50× \|$/);
  });

  it('when the re-run is less than twice as fast, then re-ingestion misses by how much', () => {
    assert.match(row(markdown, 'sqlite', '1,000,000', '4.0'), /\*\*MISS\*\*: 1\.60×, 20% short of 2\.00× \|/);
  });

  it('when a peak is 256 MiB or more, then memory misses, and below it passes', () => {
    assert.match(row(markdown, 'sqlite', 'ingesting'), /\| PASS \|$/);
    assert.match(row(markdown, 'sqlite', 'paging'), /\*\*MISS\*\*: 300 MiB, 17% over 256 MiB \|$/);
    const [ingesting] = report().memory;
    assert.ok(ingesting);
    const atTarget = renderMarkdown(report({ memory: [{ ...ingesting, peakBytes: one(256 * MiB) }] }));
    assert.match(row(atTarget, 'sqlite', 'ingesting'), /\*\*MISS\*\*: 256 MiB, not under it \|$/);
  });

  it('when GET /posts/{id} misses its ratio and its p99, then both are named, and a store without a target gets no verdict', () => {
    assert.match(row(markdown, 'sqlite', '1,000', 'GET /posts/{id} (random id)'), /\| PASS \|$/);
    assert.match(row(markdown, 'postgresql', '1,000', 'GET /posts/{id} (random id)'), /\*\*MISS\*\*: 0\.50×, 17% short of 0\.60×; \*\*MISS\*\*: p99 25\.0 ms, 25% over p99 20\.0 ms \|$/);
    assert.match(row(markdown, 'dynamodb', '1,000', 'GET /posts/{id} (random id)'), /\| — \| {2}\|$/);
  });

  it('when no request of a target route finished, then its p99 misses as "none finished"', () => {
    const none = renderMarkdown(report({ serving: [getById('sqlite', 0, null)] }));
    assert.match(row(none, 'sqlite', '1,000', 'GET /posts/{id} (random id)'), /\| none finished \| none finished \|.*p99: none finished \|$/);
  });

  it('then every miss is listed at the end, in table order', () => {
    assert.deepEqual(missedList(markdown), [
      '- ingestion on sqlite, 1,000,000 records (service ÷ raw): 0.50×, under 1% short of 0.50×',
      '- re-ingestion on sqlite, 1,000,000 records (first ÷ second): 1.60×, 20% short of 2.00×',
      '- peak RSS paging 1,000,000 records on sqlite: 300 MiB, 17% over 256 MiB',
      '- GET /posts/{id} on postgresql (÷ bare): 0.50×, 17% short of 0.60×',
      '- GET /posts/{id} on postgresql (p99): p99 25.0 ms, 25% over p99 20.0 ms',
    ]);
  });

  it('when every target is met, then the list says none', () => {
    const passing = renderMarkdown(report({ throughput: [], reingestion: [], memory: [], serving: [getById('sqlite', 0.6, 19)] }));
    assert.deepEqual(missedList(passing), ['None.']);
  });
});

describe('readOptions', () => {
  it('when nothing is set, then every store runs 3 times at 10,000 and 1,000,000, the emulators capped with a reason', () => {
    const options = readOptions({});
    assert.deepEqual(options.stores, ['sqlite', 'postgresql', 'dynamodb', 'mongodb']);
    assert.equal(options.repeats, 3);
    assert.deepEqual(options.sizes.sqlite, { small: 10_000, large: 1_000_000 });
    assert.deepEqual(options.sizes.dynamodb, { small: 10_000, large: 100_000 });
    assert.deepEqual(options.sizes.mongodb, { small: 1_000, large: 10_000 });
    assert.deepEqual(Object.keys(options.sizeNotes).sort(), ['dynamodb', 'mongodb']);
  });

  it('when an emulator is given the sizes asked for, then it runs them and no note says otherwise', () => {
    const options = readOptions({ BENCH_LARGE_DYNAMODB: '1000000' });
    assert.equal(options.sizes.dynamodb.large, 1_000_000);
    assert.equal(options.sizeNotes.dynamodb, undefined);
  });

  it('when a store or a number is wrong, then it refuses, naming the variable', () => {
    assert.throws(() => readOptions({ BENCH_STORES: 'sqlite,oracle' }), /BENCH_STORES names unknown stores: oracle/);
    assert.throws(() => readOptions({ BENCH_REPEATS: '0' }), /BENCH_REPEATS="0" is not valid/);
  });
});

describe('the serving routes', () => {
  it('when a store bounds its offsets, then the deep offset is that bound, else the last page', () => {
    assert.equal(serviceRoutes(1_000_000, Number.POSITIVE_INFINITY)[3]?.path, '/posts?limit=10&offset=999990');
    assert.equal(serviceRoutes(100_000, 10_000)[3]?.path, '/posts?limit=10&offset=10000');
  });

  it('when a route draws an id per request, then its bare route does too', () => {
    const [byId, first, keyset, deep] = serviceRoutes(1000, Number.POSITIVE_INFINITY);
    assert.ok(byId && first && keyset && deep);
    assert.equal(bareRouteFor(byId).path, '/bare/{n}');
    assert.equal(bareRouteFor(keyset).path, '/bare/{n}');
    assert.equal(bareRouteFor(first).path, '/bare');
    assert.equal(bareRouteFor(deep).path, '/bare');
  });
});
