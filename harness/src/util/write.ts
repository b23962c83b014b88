// Files of a run directory, written so that a final name never holds a cut-off file: the
// content goes to a temporary file in the same folder, every byte is checked written (a short
// write is retried, a write that makes no progress is ENOSPC), the file is fsynced and its
// length checked, then it is renamed over the final name and the folder is fsynced. On any
// failure the temporary file is removed and the error thrown; the final name keeps its earlier
// whole version, if any. Failures to write evidence are also announced to the run (storage
// failures end the run with exit 3).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** A write that could not complete; `code` is the errno name (ENOSPC, EDQUOT, EIO…). */
export class StorageError extends Error {
  override name = 'StorageError';
  constructor(readonly file: string, readonly code: string, message: string) {
    super(`cannot write ${file}: ${message}`);
  }
}

/** The errno-style error for a write that stopped making progress. */
function noProgress(file: string, written: number, total: number): StorageError {
  return new StorageError(file, 'ENOSPC', `no space left on device (wrote ${written} of ${total} bytes)`);
}

/** Wraps an fs error as a StorageError naming the file. */
function asStorageError(file: string, e: unknown): StorageError {
  if (e instanceof StorageError) return e;
  const err = e as NodeJS.ErrnoException;
  return new StorageError(file, err.code ?? 'EIO', err.message);
}

const tempName = (file: string): string => path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);

/** fsyncs a folder so a rename in it survives a crash; folders that refuse (some filesystems) are skipped. */
function syncDirSync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EBADF' && code !== 'EPERM' && code !== 'EACCES') throw e;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Writes all of `data` at the current end of `fd`; a short write continues, no progress is ENOSPC. */
export function writeAllSync(fd: number, data: Buffer, file: string): void {
  let off = 0;
  while (off < data.length) {
    const n = fs.writeSync(fd, data, off, data.length - off);
    if (n <= 0) throw noProgress(file, off, data.length);
    off += n;
  }
}

/** Writes `data` to `file` durably (temporary file, every byte, fsync, length check, rename, folder fsync). */
export function writeFileDurableSync(file: string, data: string | Buffer): void {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const tmp = tempName(file);
  try {
    const fd = fs.openSync(tmp, 'wx', 0o644);
    try {
      writeAllSync(fd, buf, file);
      fs.fsyncSync(fd);
      const size = fs.fstatSync(fd).size;
      if (size !== buf.length) throw new StorageError(file, 'EIO', `wrote ${buf.length} bytes but the file has ${size}`);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw announce(asStorageError(file, e));
  }
  syncDirSync(path.dirname(file));
}

/** The asynchronous form of writeFileDurableSync (the event loop keeps running during the write). */
export async function writeFileDurable(file: string, data: string | Buffer): Promise<void> {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const tmp = tempName(file);
  try {
    const fh = await fs.promises.open(tmp, 'wx', 0o644);
    try {
      let off = 0;
      while (off < buf.length) {
        const { bytesWritten } = await fh.write(buf, off, buf.length - off, off);
        if (bytesWritten <= 0) throw noProgress(file, off, buf.length);
        off += bytesWritten;
      }
      await fh.sync();
      const { size } = await fh.stat();
      if (size !== buf.length) throw new StorageError(file, 'EIO', `wrote ${buf.length} bytes but the file has ${size}`);
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, file);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    throw announce(asStorageError(file, e));
  }
  syncDirSync(path.dirname(file));
}

/** Writes JSON (pretty, trailing newline) durably; returns the file's path. */
export async function writeJson(dir: string, name: string, value: unknown): Promise<string> {
  const file = path.join(dir, name);
  await writeFileDurable(file, JSON.stringify(value, null, 2) + '\n');
  return file;
}

/** Writes text durably; returns the file's path. */
export async function writeText(dir: string, name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFileDurable(file, text);
  return file;
}

/** Writes JSON durably, synchronously (small files written before the run starts). */
export function writeJsonSync(dir: string, name: string, value: unknown): string {
  const file = path.join(dir, name);
  writeFileDurableSync(file, JSON.stringify(value, null, 2) + '\n');
  return file;
}

type StorageListener = (e: StorageError) => void;
const listeners = new Set<StorageListener>();

/** Subscribes to storage failures (the main job ends the run on the first one); returns the unsubscribe function. */
export function onStorageFailure(listener: StorageListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Tells the subscribers that evidence could not be written (disk full, I/O error); returns the error. */
export function announce(e: StorageError): StorageError {
  for (const l of listeners) l(e);
  return e;
}

/** Announces an fs error met while streaming evidence (a console log, the event log). */
export function reportStorageFailure(file: string, e: unknown): StorageError {
  return announce(asStorageError(file, e));
}
