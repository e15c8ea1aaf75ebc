import type { ClientSession, Db, MongoClient } from 'mongodb';
import { callMongo, isDuplicateKey } from './mongodb-call.js';

/**
 * Groups the few writes that describe a run (its history document and the status) into one multi-document
 * transaction where the server has them (a replica set or a sharded cluster), so /status and /runs never
 * disagree and a crash between the two leaves neither. Elsewhere (a standalone server, FerretDB) the writes
 * run one by one, and correctness comes from their order and guards instead: see MongoDbRunWriter.
 */
export class MongoDbTransactions {
  readonly #client: MongoClient;
  readonly #enabled: boolean;

  constructor(client: MongoClient, enabled: boolean) {
    this.#client = client;
    this.#enabled = enabled;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /**
   * Runs `writes` (in a transaction when enabled). A duplicate key means another replica created the same
   * document at the same moment (the first status of a source): the writes are idempotent, so they run once
   * more, now as updates. Errors are never caught inside the transaction: withTransaction must see them.
   */
  async run(operation: string, writes: (session: ClientSession | undefined) => Promise<void>): Promise<void> {
    await callMongo(operation, async () => {
      try {
        await this.#once(writes);
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
        await this.#once(writes);
      }
    });
  }

  async #once(writes: (session: ClientSession | undefined) => Promise<void>): Promise<void> {
    if (!this.#enabled) return writes(undefined);
    const session = this.#client.startSession();
    try {
      await session.withTransaction(() => writes(session));
    } finally {
      await session.endSession();
    }
  }
}

/**
 * Whether the server runs multi-document transactions. Only replica sets and mongos can; FerretDB can say it is
 * a replica set (`--repl-set-name`) and still refuse them, so a tiny read-only transaction decides.
 */
export async function supportsTransactions(client: MongoClient, db: Db): Promise<boolean> {
  const hello = await db.command({ hello: 1 });
  if (typeof hello.setName !== 'string' && hello.msg !== 'isdbgrid') return false;
  const session = client.startSession();
  try {
    await session.withTransaction(async () => {
      await db.collection('transaction_probe').findOne({}, { session });
    });
    return true;
  } catch {
    // Any refusal means "no": the store then writes without transactions, which it is built to do.
    return false;
  } finally {
    await session.endSession().catch(() => undefined);
  }
}
