import { STORAGE_TYPES, type StorageType } from '../src/config.js';

/** The two dataset sizes of the ingestion scenarios. */
export type SizeName = 'small' | 'large';

export interface BenchOptions {
  readonly stores: readonly StorageType[];
  /** Runs per figure; each figure is their median, with min and max. */
  readonly repeats: number;
  /** Records per store and size: BENCH_SMALL/BENCH_LARGE, lowered for the emulators (see SIZE_CAPS). */
  readonly sizes: Readonly<Record<StorageType, Readonly<Record<SizeName, number>>>>;
  /** Why a store's size is below the one asked for, when it is; the table prints it next to the rows. */
  readonly sizeNotes: Readonly<Partial<Record<StorageType, string>>>;
  /** Seconds of load per serving figure (after a warm-up that is not counted). */
  readonly serveSeconds: number;
}

/**
 * The largest sizes the emulators finish in a default run of about 16 minutes on 2 cores. dynalite (a
 * JavaScript DynamoDB) takes about 4 minutes per 1,000,000 records and repeat; FerretDB 1.24 on SQLite pushes
 * no filter but `_id` down, so each find of a batch's stored copies scans the whole collection, and a re-run,
 * which reads every batch back, grows with the square of its size (4.2 to 4.6 s for 10,000). BENCH_SMALL_<STORE>
 * and BENCH_LARGE_<STORE> override them, e.g. against a real server given by TEST_MONGODB_URI.
 */
const SIZE_CAPS: Readonly<Partial<Record<StorageType, { readonly cap: Readonly<Partial<Record<SizeName, number>>>; readonly why: string }>>> = {
  dynamodb: { cap: { large: 100_000 }, why: 'dynalite, a JavaScript emulator, writes about 4,000 records/s: 1,000,000 would take 4 min per run' },
  mongodb: {
    cap: { small: 1_000, large: 10_000 },
    why: 'FerretDB 1.24 (SQLite backend) scans the whole collection for every find by id, so a re-run, which reads each batch of 1,000 back, grows with the square of its size',
  },
};

const DEFAULT_STORES: readonly StorageType[] = ['sqlite', 'postgresql', 'dynamodb', 'mongodb'];

export function readOptions(env: NodeJS.ProcessEnv): BenchOptions {
  const stores = readStores(env.BENCH_STORES);
  const wanted: Record<SizeName, number> = {
    small: readInteger(env, 'BENCH_SMALL', 10_000, 1),
    large: readInteger(env, 'BENCH_LARGE', 1_000_000, 1),
  };
  const sizes = {} as Record<StorageType, Record<SizeName, number>>;
  const sizeNotes: Partial<Record<StorageType, string>> = {};
  for (const store of STORAGE_TYPES) {
    const caps = SIZE_CAPS[store];
    const sized = {} as Record<SizeName, number>;
    for (const size of ['small', 'large'] as const) {
      const variable = `BENCH_${size.toUpperCase()}_${store.toUpperCase()}`;
      const capped = Math.min(wanted[size], caps?.cap[size] ?? Number.POSITIVE_INFINITY);
      sized[size] = readInteger(env, variable, capped, 1);
      if (sized[size] < wanted[size] && caps) sizeNotes[store] = `${caps.why} (set ${variable} to change it)`;
    }
    sizes[store] = sized;
  }
  return {
    stores,
    repeats: readInteger(env, 'BENCH_REPEATS', 3, 1),
    sizes,
    sizeNotes,
    serveSeconds: readInteger(env, 'BENCH_SERVE_SECONDS', 10, 1),
  };
}

function readStores(text: string | undefined): readonly StorageType[] {
  const names = text?.split(',').map((name) => name.trim()).filter(Boolean) ?? [];
  if (names.length === 0) return DEFAULT_STORES;
  const unknown = names.filter((name) => !(STORAGE_TYPES as readonly string[]).includes(name));
  if (unknown.length > 0) throw new Error(`BENCH_STORES names unknown stores: ${unknown.join(', ')} (known: ${STORAGE_TYPES.join(', ')})`);
  return names as StorageType[];
}

function readInteger(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const text = env[name]?.trim();
  if (!text) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`${name}=${JSON.stringify(text)} is not valid: expected an integer of at least ${min}`);
  return value;
}
