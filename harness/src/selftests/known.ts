// Which kernel selftests a kernel source tarball has (tools/testing/selftests/DIR/NAME.c), so
// that a case naming one that does not exist is refused at plan time, before anything is
// built. The listing is read once per tarball (about 15 s) and kept in the content cache.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { sourceIdentity, type SourceSpec } from '../kernel/keys.js';
import { cacheEntry, contentKey } from '../util/cache.js';

const SELFTEST_C = /^[^/]+\/tools\/testing\/selftests\/([a-z0-9_-]+\/[a-z0-9_-]+)\.c$/;

/** The DIR/NAME of every selftest source in `tar -t` output. */
export function selftestsInListing(listing: string): string[] {
  const out: string[] = [];
  for (const line of listing.split('\n')) {
    const m = SELFTEST_C.exec(line);
    if (m) out.push(m[1]);
  }
  return out;
}

/** Lists a tarball's selftest sources (streamed: only the matching names are kept). */
function listSelftests(tarball: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const p = spawn('tar', ['-tJf', tarball], { stdio: ['ignore', 'pipe', 'pipe'] });
    const found: string[] = [];
    let rest = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => {
      const lines = (rest + d.toString()).split('\n');
      rest = lines.pop() ?? '';
      found.push(...selftestsInListing(lines.join('\n')));
    });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('error', reject);
    p.on('close', (code) => {
      found.push(...selftestsInListing(rest));
      if (code === 0) resolve(found);
      else reject(new Error(`tar -tJf ${tarball} exited with ${code}: ${err.trim().slice(-500)}`));
    });
  });
}

/** The selftests (DIR/NAME) of a source tarball, from the cache or listed now. */
export async function knownSelftests(source: SourceSpec): Promise<Set<string>> {
  const key = contentKey(['kph-selftest-index-1', await sourceIdentity(source)]);
  const entry = await cacheEntry('selftest-index', key, async (tmp) => {
    await fs.writeFile(path.join(tmp, 'selftests.txt'), (await listSelftests(source.tarball)).sort().join('\n') + '\n');
  });
  const text = await fs.readFile(path.join(entry.dir, 'selftests.txt'), 'utf8');
  return new Set(text.split('\n').filter(Boolean));
}
