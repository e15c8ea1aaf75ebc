import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { fromColumns } from './post-columns.js';
import { lastingRefusal } from './sqlite-refusals.js';
import { SqliteStaging } from './sqlite-staging.js';
import { applyWriterPragmas } from './sqlite-writer-pragmas.js';
import type { WriterReply, WriterRequest, WriterWorkerData } from './sqlite-writer-protocol.js';
import { SqliteWrites } from './sqlite-writes.js';

/**
 * The writer thread's entry (started by sqlite-writer-thread.ts). It owns the store's only writing
 * connection: a run's staging and merge, the lease, migrations, and the WAL checkpoints all run here, so none
 * of them blocks the event loop that serves the API, and waiting for a lock blocks this thread only. Requests
 * run one at a time, in the order they came, so nothing ever joins a run's transaction; each request but
 * `checkpoint` and `close` gets one reply, in the same order.
 */

/** SQLite's default: a commit that leaves the WAL longer than this many pages checkpoints it in place. */
const AUTOCHECKPOINT_PAGES = 1000;

if (!parentPort) throw new Error('sqlite-writer-worker runs on a worker thread');
const port: MessagePort = parentPort;
const { path, options } = workerData as WriterWorkerData;

function openConnection(): Database.Database {
  const connection = new Database(path);
  applyWriterPragmas(connection);
  connection.pragma('busy_timeout = 5000');
  return connection;
}

let db = openConnection();
let writes = new SqliteWrites(db, options);

/**
 * A new connection in place of this one: closing it deletes its TEMP database's file, which holds the stage.
 * For a stage that cannot be emptied because that file filled the disk (emptying needs room for the undo):
 * until the file goes, the disk stays full, and no run could even record its failure.
 */
function reopenConnection(): void {
  db.close();
  db = openConnection();
  writes = new SqliteWrites(db, options);
}

let staging: SqliteStaging | undefined;
let answerFinishedAt: ((value: string) => void) | undefined;
let queue = Promise.resolve();

port.on('message', (request: WriterRequest) => {
  // Answers the commit in progress, which holds the queue: it must not wait behind it.
  if (request.op === 'finished-at') {
    answerFinishedAt?.(request.value);
    return;
  }
  // handle() answers a request's failure itself; the catch keeps an unexpected throw (a checkpoint, close)
  // from stopping every request after it.
  queue = queue.then(() => handle(request)).catch(() => undefined);
});

async function handle(request: Exclude<WriterRequest, { op: 'finished-at' }>): Promise<void> {
  switch (request.op) {
    case 'checkpoint':
      return checkpoint();
    case 'close':
      // The last connection to close checkpoints the whole WAL and removes its file.
      db.close();
      port.close();
      return;
    default:
      try {
        reply({ kind: 'done', value: await perform(request) });
      } catch (error) {
        const { name, code } = error as { name?: unknown; code?: unknown };
        reply({ kind: 'failed', name: typeof name === 'string' ? name : 'Error', code: typeof code === 'string' ? code : undefined, refusal: lastingRefusal(error) });
      }
  }
}

async function perform(request: Exclude<WriterRequest, { op: 'checkpoint' | 'close' | 'finished-at' }>): Promise<unknown> {
  switch (request.op) {
    case 'migrate':
      return writes.migrate();
    case 'recover':
      return writes.recoverInterruptedRuns(request.finishedAt);
    case 'acquire-lease':
      return writes.acquireLease(request.request);
    case 'renew-lease':
      return writes.renewLease(request.owner, request.expiresAt);
    case 'release-lease':
      return writes.releaseLease(request.owner, request.lastStartedAt);
    case 'begin':
      staging = new SqliteStaging(db, options, writes, request.run);
      return undefined;
    case 'write':
      return runInProgress(request.runId).write(fromColumns(request.posts));
    case 'discard':
      return runInProgress(request.runId).discardAttempt();
    case 'commit': {
      const committed = await runInProgress(request.runId).commit(request, askFinishedAt);
      staging = undefined;
      return committed;
    }
    case 'abort':
      // Nothing staged was merged, so emptying the stage is all the undoing. The stage may be gone already (the
      // thread that held it stopped, or another run began): the failure is recorded all the same.
      if (staging?.runId === request.runId) {
        const stage = staging;
        staging = undefined;
        try {
          stage.discardAttempt();
        } catch {
          reopenConnection();
        }
      }
      writes.recordFailure(request.runId, request.failure);
      return undefined;
  }
}

function reply(message: WriterReply): void {
  port.postMessage(message);
}

/**
 * The stage of the run a request names. It is gone when this thread restarted since the run began, or when
 * another run began on the store since: the request then fails rather than write into someone else's run.
 */
function runInProgress(runId: string): SqliteStaging {
  if (staging?.runId !== runId) throw Object.assign(new Error('no run in progress on the writer thread'), { name: 'WriterThreadError', code: 'NO_RUN' });
  return staging;
}

function askFinishedAt(): Promise<string> {
  return new Promise((resolve) => {
    answerFinishedAt = (value) => {
      answerFinishedAt = undefined;
      resolve(value);
    };
    reply({ kind: 'finished-at' });
  });
}

/**
 * TRUNCATE: copies the WAL into the database, waits (busy_timeout at most) for the readers still inside it,
 * which end their snapshot within 20 ms, and empties the file. PASSIVE, which waits for nobody, left the
 * WAL to grow by a run under steady reads: SQLite rewinds the WAL only at a write that finds every frame
 * copied and no reader inside, and the lease written after each run found a reader there. Should it
 * fail, this connection checkpoints at commit again, as SQLite does unless told otherwise.
 */
function checkpoint(): void {
  if (!db.open) return;
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
  } catch {
    db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
  }
}
