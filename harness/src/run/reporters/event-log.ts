// The event log reporter: appends one JSON line per event to events.jsonl, as it happens (what
// --resume reads back).
import fs from 'node:fs';
import { reportStorageFailure, writeAllSync } from '../../util/write.js';
import type { Reporter, RunEvent } from '../events.js';

/**
 * Appends every event as a JSON line to `file` (synchronously, so a crash loses nothing written;
 * a short write is completed; a torn last line left by a killed run is ended first). A failed
 * write (disk full) is announced as a storage failure and thrown (the multiplexer then drops
 * this reporter).
 */
export function eventLogReporter(file: string): Reporter {
  const fd = fs.openSync(file, 'a+');
  // A log that ends in a torn line (a killed run being resumed): end it, so the next event starts its own line.
  const size = fs.fstatSync(fd).size;
  if (size > 0) {
    const last = Buffer.alloc(1);
    fs.readSync(fd, last, 0, 1, size - 1);
    if (last[0] !== 0x0a) writeAllSync(fd, Buffer.from('\n'), file);
  }
  return (e: RunEvent) => {
    try {
      writeAllSync(fd, Buffer.from(JSON.stringify({ t: new Date().toISOString(), ...e }) + '\n'), file);
    } catch (err) {
      throw reportStorageFailure(file, err);
    }
  };
}
