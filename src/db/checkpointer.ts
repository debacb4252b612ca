/**
 * The SQLite checkpointer, run in a worker thread with a connection of its own: it copies the
 * write-ahead log into the database file (and syncs it) while the main thread keeps committing.
 * Inside a commit on the main thread (SQLite's automatic checkpoint) the same work took about half
 * of a signing surge's time. PASSIVE never blocks writers or readers; what it cannot copy yet it
 * copies next time.
 */
import Sqlite from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

const { file, intervalMs } = workerData as { file: string; intervalMs: number };
const database = new Sqlite(file);
database.pragma('busy_timeout = 1000');

// Under writes that never pause, PASSIVE copies but the log never starts over; past this many pages
// one RESTART waits for the writer in hand, so the log file stops growing.
const restartAfterPages = 16_384;

function checkpoint(): void {
  try {
    const [result] = database.pragma('wal_checkpoint(PASSIVE)') as Array<{ log: number }>;
    if (result && result.log > restartAfterPages) database.pragma('wal_checkpoint(RESTART)');
  } catch {
    // Busy (another process's checkpoint) or the file is going away: next time.
  }
}

const timer = setInterval(checkpoint, intervalMs);
parentPort!.on('message', (message: unknown) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  checkpoint();
  database.close();
  parentPort!.postMessage('stopped');
});
parentPort!.postMessage('ready');
