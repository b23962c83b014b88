// Compiles the C guest (guest/c/kph-cells.c) into a static binary, cached by content:
// the key covers the source, the compiler's version and the flags.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { cacheEntry, contentKey } from '../util/cache.js';
import { runLogged } from '../util/exec.js';
import { projectRoot } from '../util/paths.js';

/** Source of the C guest, inside the checkout. */
export const C_GUEST_SOURCE = path.join(projectRoot, 'guest/c/kph-cells.c');
/** File name of the compiled C guest, in the cache and in the VM. */
export const C_GUEST_BINARY = 'kph-cells';
const CFLAGS = ['-static', '-O2', '-Wall', '-Wextra', '-Werror'] as const;

export interface BuildCGuestOptions {
  /** Folder receiving build-c-guest.log (gcc's output). */
  logDir: string;
  signal?: AbortSignal;
}

/** Builds (or finds in the cache) the static kph-cells binary; returns its path. */
export async function buildCGuest(opts: BuildCGuestOptions): Promise<{ path: string; cached: boolean }> {
  const source = await fs.readFile(C_GUEST_SOURCE);
  const gccVersion = await compilerVersion(opts.signal);
  const key = contentKey(['kph-cells v1', source, gccVersion, CFLAGS.join(' ')]);
  await fs.mkdir(opts.logDir, { recursive: true });
  const log = path.join(opts.logDir, 'build-c-guest.log');
  const entry = await cacheEntry('c-guest', key, async (tmp) => {
    // Compile the exact bytes that were hashed, not whatever the checkout holds by now.
    const src = path.join(tmp, 'kph-cells.c');
    await fs.writeFile(src, source);
    await runLogged('gcc', [...CFLAGS, '-o', path.join(tmp, C_GUEST_BINARY), src], { log, signal: opts.signal });
    await fs.rm(src);
  });
  return { path: path.join(entry.dir, C_GUEST_BINARY), cached: entry.cached };
}

/** `gcc --version`, or an error telling the user what to install. */
async function compilerVersion(signal?: AbortSignal): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)('gcc', ['--version'], { signal });
    return stdout;
  } catch (e) {
    throw new Error(`cannot run gcc to build the C guest (${(e as Error).message}); install build-essential (gcc and the static glibc)`);
  }
}
