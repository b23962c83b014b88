// Content-addressed cache entries, built once under a lock and published by rename,
// so concurrent runs share them safely and an interrupted build leaves nothing half-made.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { cacheRoot } from './paths.js';

/** sha256 over the given parts (each length-prefixed so parts cannot run together), 20 hex chars. */
export function contentKey(parts: ReadonlyArray<string | Buffer>): string {
  const h = createHash('sha256');
  for (const p of parts) {
    const b = typeof p === 'string' ? Buffer.from(p) : p;
    h.update(`${b.length}:`);
    h.update(b);
  }
  return h.digest('hex').slice(0, 20);
}

const MARKER = '.complete';

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(() => true, () => false);
}

export interface CacheEntry {
  dir: string;
  /** true when the entry existed before this call. */
  cached: boolean;
}

/**
 * Returns `<cache>/<kind>/<key>`, building it first with `build(tmpDir)` when missing.
 * The build runs under an exclusive lock; its output is renamed into place only on success.
 */
export async function cacheEntry(
  kind: string,
  key: string,
  build: (tmpDir: string) => Promise<void>,
): Promise<CacheEntry> {
  const base = path.join(cacheRoot(), kind);
  const dir = path.join(base, key);
  if (await exists(path.join(dir, MARKER))) return { dir, cached: true };
  await fs.mkdir(base, { recursive: true });
  const lockTarget = path.join(base, `${key}.lock`);
  await fs.writeFile(lockTarget, '', { flag: 'a' });
  const release = await lockfile.lock(lockTarget, {
    stale: 30_000,
    update: 5_000,
    retries: { retries: 100_000, minTimeout: 500, maxTimeout: 2_000, factor: 1.2 },
  });
  try {
    if (await exists(path.join(dir, MARKER))) return { dir, cached: true };
    const tmp = `${dir}.tmp-${process.pid}`;
    await fs.rm(tmp, { recursive: true, force: true });
    await fs.mkdir(tmp, { recursive: true });
    try {
      await build(tmp);
      await fs.writeFile(path.join(tmp, MARKER), new Date().toISOString());
      await fs.rm(dir, { recursive: true, force: true });
      await fs.rename(tmp, dir);
    } catch (e) {
      await fs.rm(tmp, { recursive: true, force: true });
      throw e;
    }
    return { dir, cached: false };
  } finally {
    await release();
  }
}
