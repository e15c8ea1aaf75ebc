import { startDynalite } from '../test/support/dynamodb-backend.js';

/**
 * dynalite in a process of its own. The test helper runs it inside the calling process; in the benchmark that
 * process also runs the raw writers and the upstream, which would share dynalite's one thread and slow it down
 * unevenly. Prints `{"endpoint"}` once listening; exits when its parent closes stdin (even a killed parent).
 */
const server = await startDynalite();
process.stdout.write(`${JSON.stringify({ endpoint: server.endpoint })}\n`);
const stop = () => void server.close().finally(() => process.exit(0));
process.stdin.on('end', stop).resume();
process.on('SIGTERM', stop);
