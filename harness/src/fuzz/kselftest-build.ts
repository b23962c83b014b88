// Compiles an emitted kselftest (gcc -static) against kselftest_harness.h and kselftest.h taken
// from the kernel source tarball (extracted once into the cache, keyed by the source package).
import fs from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_SOURCE_PACKAGE, DEFAULT_TARBALL, sourceIdentity } from '../kernel/keys.js';
import type { BuiltSelftest } from '../selftests/build.js';
import { cacheEntry, contentKey } from '../util/cache.js';
import { runLogged } from '../util/exec.js';

/** The folder holding kselftest_harness.h (tools/testing/selftests of the tarball). */
export async function kselftestHeaders(logDir: string, tarball = DEFAULT_TARBALL, sourcePackage = DEFAULT_SOURCE_PACKAGE): Promise<string> {
  const key = contentKey(['kph-kselftest-headers-1', await sourceIdentity({ tarball, sourcePackage })]);
  const log = path.join(logDir, 'kselftest-headers.log');
  const entry = await cacheEntry('kselftest-headers', key, async (tmp) => {
    await runLogged('tar', ['-xJf', tarball, '-C', tmp, '--wildcards', '*/tools/testing/selftests/kselftest_harness.h', '*/tools/testing/selftests/kselftest.h'], { log });
    const [top] = await fs.readdir(tmp);
    await fs.rename(path.join(tmp, top, 'tools/testing/selftests'), path.join(tmp, 'selftests'));
    await fs.rm(path.join(tmp, top), { recursive: true, force: true });
    // The emitted file includes "../kselftest_harness.h", as the files of selftests/net do.
    await fs.mkdir(path.join(tmp, 'selftests', 'net'), { recursive: true });
  });
  return path.join(entry.dir, 'selftests');
}

/** Compiles `cFile` static next to it (same name without .c); returns it as a selftest the guest can run. */
export async function compileKselftest(cFile: string, headers: string, log: string): Promise<BuiltSelftest> {
  const base = path.basename(cFile, '.c');
  const binary = path.join(path.dirname(cFile), base);
  await runLogged('gcc', ['-static', '-O2', '-Wall', `-I${path.join(headers, 'net')}`, '-o', binary, cFile, '-lpthread'], { log });
  return { name: `fuzz/${base}`, binary, sysctls: [], cached: false };
}
