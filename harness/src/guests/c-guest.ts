// Compiles the C guest programs (guest/c/kph-cells.c, the cell interpreter, and
// guest/c/kph-floor.c, the bench's floor loop) into static binaries, cached by content:
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
/** Source of the floor program (npm run bench), inside the checkout. */
export const FLOOR_SOURCE = path.join(projectRoot, 'guest/c/kph-floor.c');
/** File name of the compiled floor program, in the cache and in the VM. */
export const FLOOR_BINARY = 'kph-floor';
const CFLAGS = ['-static', '-O2', '-Wall', '-Wextra', '-Werror'] as const;

export interface BuildCGuestOptions {
  /** Folder receiving build-c-guest.log (gcc's output). */
  logDir: string;
  signal?: AbortSignal;
}

/** Builds (or finds in the cache) the static kph-cells binary; returns its path. */
export function buildCGuest(opts: BuildCGuestOptions): Promise<{ path: string; cached: boolean }> {
  return buildStatic(C_GUEST_SOURCE, C_GUEST_BINARY, 'c-guest', 'build-c-guest.log', opts);
}

/** Builds (or finds in the cache) the static kph-floor binary; returns its path. */
export function buildFloor(opts: BuildCGuestOptions): Promise<{ path: string; cached: boolean }> {
  return buildStatic(FLOOR_SOURCE, FLOOR_BINARY, 'c-floor', 'build-c-floor.log', opts);
}

/** Compiles one C source into a static binary in the cache folder `kind`; returns its path. */
async function buildStatic(sourcePath: string, binary: string, kind: string, logName: string, opts: BuildCGuestOptions): Promise<{ path: string; cached: boolean }> {
  const source = await fs.readFile(sourcePath);
  const gccVersion = await compilerVersion(opts.signal);
  const key = contentKey([`${binary} v1`, source, gccVersion, CFLAGS.join(' ')]);
  await fs.mkdir(opts.logDir, { recursive: true });
  const log = path.join(opts.logDir, logName);
  const entry = await cacheEntry(kind, key, async (tmp) => {
    // Compile the exact bytes that were hashed, not whatever the checkout holds by now.
    const src = path.join(tmp, path.basename(sourcePath));
    await fs.writeFile(src, source);
    await runLogged('gcc', [...CFLAGS, '-o', path.join(tmp, binary), src], { log, signal: opts.signal });
    await fs.rm(src);
  });
  return { path: path.join(entry.dir, binary), cached: entry.cached };
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
