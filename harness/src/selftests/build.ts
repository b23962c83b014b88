// Builds a kernel selftest (e.g. net/reuseaddr_ports_exhausted) from the source tree of the
// kernel under test (a source tarball, or a commit of a git repository: kernel/source.ts's
// SourceTree), as a static binary for the guest, and reads the sysctls its runner script sets.
// One cache entry per selftest, source identity and compiler.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { compilerIdentity, sourceIdentity } from '../kernel/keys.js';
import type { SourceTree } from '../kernel/source.js';
import { cacheEntry, contentKey } from '../util/cache.js';
import { runLogged } from '../util/exec.js';

export interface BuiltSelftest {
  /** "net/reuseaddr_ports_exhausted" */
  name: string;
  binary: string;
  /** sysctl settings its .sh applies before running the binary, in order. */
  sysctls: Array<{ key: string; value: string }>;
  cached: boolean;
  /** The source it was built from: the tarball's package, version and path, or the repository and commit. */
  from?: string;
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

/** What identifies a source tree (its cache key part), and how it is named in results. */
export async function treeIdentity(tree: SourceTree): Promise<{ key: string; from: string }> {
  if ('git' in tree) return { key: `git ${tree.commit}`, from: `${tree.git} at ${tree.commit}` };
  const id = await sourceIdentity(tree);
  // e.g. "linux-source-6.12=6.12.118-1~deb12u1 (/usr/src/linux-source-6.12.tar.xz)"
  return { key: id, from: `${id.split(' ')[0]} (${tree.tarball})` };
}

/** Writes the selftest's files (kselftest headers, DIR/NAME.c and .sh) of `tree` under `into`; returns tools/testing/selftests there. */
async function extract(tree: SourceTree, files: string[], into: string, log: string): Promise<string> {
  if ('git' in tree) {
    const tar = path.join(into, 'selftest.tar');
    await runLogged('git', ['-C', tree.git, 'archive', '--format=tar', '-o', tar, tree.commit, '--', ...files], { log });
    await runLogged('tar', ['-xf', tar, '-C', into], { log });
    await fs.rm(tar);
    return path.join(into, 'tools/testing/selftests');
  }
  const top = await tarTopDir(tree.tarball, log);
  await runLogged('tar', ['-xJf', tree.tarball, '-C', into, '--wildcards', ...files.map((f) => `${top}/${f}`)], { log });
  return path.join(into, top, 'tools/testing/selftests');
}

/** Extracts the selftest's sources from the kernel's source tree and compiles them with gcc -static. */
export async function buildSelftest(name: string, tree: SourceTree, logDir: string): Promise<BuiltSelftest> {
  if (!NAME.test(name)) throw new Error(`selftest ${JSON.stringify(name)}: expected DIR/NAME as under tools/testing/selftests, e.g. net/reuseaddr_ports_exhausted`);
  const [dir, base] = name.split('/');
  const id = await treeIdentity(tree);
  // The tarball's key part is its sourceIdentity, as it always was (cached selftests stay valid).
  const key = contentKey(['kph-selftest-2', name, id.key, await compilerIdentity()]);
  const log = path.join(logDir, `selftest-${base}.log`);
  const entry = await cacheEntry('selftest', key, async (tmp) => {
    const st = 'tools/testing/selftests';
    const srcDir = await extract(tree, [`${st}/kselftest*.h`, `${st}/${dir}/${base}.c`, `${st}/${dir}/${base}.sh`], tmp, log);
    await runLogged('gcc', ['-static', '-O2', '-Wall', `-I${srcDir}`, `-fmacro-prefix-map=${srcDir}/=`, '-o', path.join(tmp, base), path.join(srcDir, dir, `${base}.c`), '-lpthread'], { log });
    await fs.copyFile(path.join(srcDir, dir, `${base}.sh`), path.join(tmp, `${base}.sh`)).catch(() => undefined);
    for (const e of await fs.readdir(tmp)) if (e !== base && e !== `${base}.sh`) await fs.rm(path.join(tmp, e), { recursive: true, force: true });
  });
  const script = await fs.readFile(path.join(entry.dir, `${base}.sh`), 'utf8').catch(() => '');
  return { name, binary: path.join(entry.dir, base), sysctls: sysctlsOfScript(script), cached: entry.cached, from: id.from };
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
