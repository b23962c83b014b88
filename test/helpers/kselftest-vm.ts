// Boots kernels (from the cache, as the fuzzer does) and runs one static kselftest binary on each,
// so a test can check an emitted kselftest itself instead of trusting the fuzzer's record of it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { VmPool } from '../../harness/src/fuzz/pool.js';
import { buildCGuest } from '../../harness/src/guests/index.js';
import { buildGuestImage } from '../../harness/src/image/build.js';
import { kernelSelection } from '../../harness/src/kernel/select.js';
import { jobContext } from '../../harness/src/run/lab.js';
import type { SelftestResult } from '../../harness/src/selftests/run.js';
import { chooseAccel } from '../../harness/src/vm/accel.js';

/** Pushes `binary` to a fresh VM of each kernel and runs it there; the results by kernel name. */
export async function runKselftestOn(kernelNames: string[], binary: string): Promise<Record<string, SelftestResult>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-kselftest-vm-'));
  const signal = new AbortController().signal;
  const selection = kernelSelection(kernelNames);
  const [built, image, cGuest] = await Promise.all([
    selection.build({ logDir: dir, signal, onProgress: () => {} }),
    buildGuestImage({ logDir: dir, signal }),
    buildCGuest({ logDir: dir, signal }),
  ]);
  const ctx = jobContext({ runId: 'test-kselftest', runDir: dir, accel: chooseAccel(), image, cGuest: cGuest.path, append: [], bootAttempts: 2, emit: () => {}, signal });
  const pool = new VmPool(built.map((k) => ({ name: k.name, release: k.release, bzImage: k.bzImage, profile: k.profile, hasSysctl: true })), ctx);
  try {
    await pool.start();
    const name = `fuzz/${path.basename(binary)}`;
    const out: Record<string, SelftestResult> = {};
    for (const k of built) out[k.name] = await pool.selftest(k.name, { name, binary, sysctls: [], cached: false });
    return out;
  } finally {
    await pool.stop();
  }
}
