// Builds a kernel selftest (e.g. net/reuseaddr_ports_exhausted) from the kernel source under
// test, as a static binary for the guest, and reads the sysctls its runner script sets.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { compilerIdentity, sourceIdentity, type SourceSpec } from '../kernel/keys.js';
import { cacheEntry, contentKey } from '../util/cache.js';
import { runLogged } from '../util/exec.js';

export interface BuiltSelftest {
  /** "net/reuseaddr_ports_exhausted" */
  name: string;
  binary: string;
  /** sysctl settings its .sh applies before running the binary, in order. */
  sysctls: Array<{ key: string; value: string }>;
  cached: boolean;
}

const NAME = /^[a-z0-9_-]+\/[a-z0-9_-]+$/;

/** `sysctl -w key=value` / `sysctl -w key="v w"` lines of a selftest runner script. */
export function sysctlsOfScript(script: string): Array<{ key: string; value: string }> {
  const out: Array<{ key: string; value: string }> = [];
  for (const m of script.matchAll(/sysctl\s+-w\s+([a-z0-9_.]+)=(?:"([^"]*)"|'([^']*)'|(\S+))/g)) {
    out.push({ key: m[1], value: m[2] ?? m[3] ?? m[4] });
  }
  return out;
}

/** Extracts the selftest's sources from the kernel tarball and compiles them with gcc -static. */
export async function buildSelftest(name: string, source: SourceSpec, logDir: string): Promise<BuiltSelftest> {
  if (!NAME.test(name)) throw new Error(`selftest ${JSON.stringify(name)}: expected DIR/NAME as under tools/testing/selftests, e.g. net/reuseaddr_ports_exhausted`);
  const [dir, base] = name.split('/');
  const key = contentKey(['kph-selftest-2', name, await sourceIdentity(source), await compilerIdentity()]);
  const log = path.join(logDir, `selftest-${base}.log`);
  const entry = await cacheEntry('selftest', key, async (tmp) => {
    const top = await tarTopDir(source.tarball, log);
    const st = `${top}/tools/testing/selftests`;
    await runLogged('tar', ['-xJf', source.tarball, '-C', tmp, '--wildcards', `${st}/kselftest*.h`, `${st}/${dir}/${base}.c`, `${st}/${dir}/${base}.sh`], { log });
    const srcDir = path.join(tmp, st);
    await runLogged('gcc', ['-static', '-O2', '-Wall', `-I${srcDir}`, `-fmacro-prefix-map=${srcDir}/=`, '-o', path.join(tmp, base), path.join(srcDir, dir, `${base}.c`), '-lpthread'], { log });
    await fs.copyFile(path.join(srcDir, dir, `${base}.sh`), path.join(tmp, `${base}.sh`)).catch(() => undefined);
    await fs.rm(path.join(tmp, top), { recursive: true, force: true });
  });
  const script = await fs.readFile(path.join(entry.dir, `${base}.sh`), 'utf8').catch(() => '');
  return { name, binary: path.join(entry.dir, base), sysctls: sysctlsOfScript(script), cached: entry.cached };
}

/** The tarball's single top-level directory (e.g. linux-source-6.1), read from its first entry. */
function tarTopDir(tarball: string, log: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('tar', ['-tJf', tarball], { stdio: ['ignore', 'pipe', 'ignore'] });
    let buf = '';
    p.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) { p.kill(); resolve(buf.slice(0, nl).split('/')[0]); }
    });
    p.on('close', () => reject(new Error(`could not list ${tarball} (see ${log})`)));
  });
}
