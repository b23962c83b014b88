// The run's facts, gathered while the run happens and recorded in run.json and results.json:
// compiler, QEMU, where each kernel's source came from (Debian package version, git commit,
// repository URL and branch, patchset hash) and the harness's own version and commit. The
// writers of the result files (results/kcidb.ts above all) read them from the run document only, so
// a merge or a re-render on a host without gcc, QEMU or the kernel source says the same.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { defaultPair } from '../kernel/defaults.js';
import { DEFAULT_SOURCE_PACKAGE } from '../kernel/keys.js';
import { loadKernelSpecs, type KernelSpec } from '../kernel/spec.js';
import { projectRoot } from '../util/paths.js';
import { patchsetHash } from '../kernel/keys.js';
import { writeJson } from '../util/write.js';

/** Where one kernel's source came from. */
export type SourceFacts =
  | {
    kind: 'debian';
    /** The Debian source package, e.g. 'linux-source-6.1'. */
    package: string;
    /** Its installed version, e.g. '6.1.192-2' (absent when dpkg-query could not tell). */
    version?: string;
    /** Names of the patch files applied on top, in order ([] = the source as shipped). */
    patches: string[];
    /** KCIDB patchset hash of those patches ('' when there are none); see patchsetHash(). */
    patchsetHash: string;
  }
  | {
    kind: 'git';
    /** The working tree the ref was resolved in. */
    tree: string;
    ref: string;
    /** Full commit hash (absent when the ref did not resolve). */
    commit?: string;
    subject?: string;
    /** The branch the ref names, when it names one. */
    branch?: string;
    /** The remote's https:// URL (KCIDB's git_repository_url), when the tree has one. */
    url?: string;
    patches: string[];
    patchsetHash: string;
  }
  | { kind: 'bzImage'; path: string };

export interface RunFacts {
  /** First line of `gcc --version`. */
  compiler?: string;
  /** First line of `<qemu> --version`. */
  qemu?: string;
  /** The harness itself: package version, and the checkout's commit when it is a git checkout. */
  harness: { version: string; commit?: string; dirty?: boolean };
  /** Per kernel name. */
  sources: Record<string, SourceFacts>;
}

/** An https:// form of a git remote URL (scp-like `git@host:path` and ssh:// become https://), or undefined. */
export function httpsUrl(remote: string): string | undefined {
  const r = remote.trim();
  if (/^https:\/\/\S+$/.test(r)) return r.replace(/^https:\/\/[^@/]*@/, 'https://');
  const scp = /^[\w.-]+@([\w.-]+):(?!\/)(\S+)$/.exec(r);
  if (scp) return `https://${scp[1]}/${scp[2]}`;
  const ssh = /^(?:ssh|git):\/\/(?:[\w.-]+@)?([\w.-]+)(?::\d+)?\/(\S+)$/.exec(r);
  if (ssh) return `https://${ssh[1]}/${ssh[2]}`;
  return undefined;
}

const exec = promisify(execFile);

/** A command's trimmed stdout, or undefined when it fails (never throws). */
async function out(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    const { stdout } = await exec(cmd, args, { timeout: 10_000 });
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

const firstLine = async (cmd: string, args: string[]): Promise<string | undefined> => (await out(cmd, args))?.split('\n')[0].trim();

/** Patch names and their patchset hash; unreadable patches hash as what could be read. */
function patchFacts(patches: readonly string[]): { patches: string[]; patchsetHash: string } {
  const contents = patches.flatMap((p) => { try { return [fs.readFileSync(p)]; } catch { return []; } });
  return { patches: patches.map((p) => path.basename(p)), patchsetHash: patchsetHash(contents) };
}

/** The branch a ref names (refs/heads/X or refs/remotes/R/X → X), if any. */
async function branchOf(tree: string, ref: string): Promise<string | undefined> {
  const full = await out('git', ['-C', tree, 'rev-parse', '--symbolic-full-name', ref]);
  const m = /^refs\/(?:heads\/(.+)|remotes\/[^/]+\/(.+))$/.exec(full ?? '');
  return m ? (m[1] ?? m[2]) : undefined;
}

/** Facts of one kernel's source. */
async function sourceFacts(spec: Pick<KernelSpec, 'source' | 'patches'>): Promise<SourceFacts> {
  const s = spec.source;
  switch (s.kind) {
    case 'debian':
      return { kind: 'debian', package: s.package, version: await out('dpkg-query', ['-W', '-f=${Version}', s.package]), ...patchFacts(spec.patches) };
    case 'bzImage':
      return { kind: 'bzImage', path: s.path };
    case 'git': {
      const tree = s.repo;
      const [commit, subject, branch, remote] = await Promise.all([
        out('git', ['-C', tree, 'rev-parse', '--verify', '--quiet', '--end-of-options', `${s.ref}^{commit}`]),
        out('git', ['-C', tree, 'log', '-1', '--format=%s', s.ref, '--']),
        branchOf(tree, s.ref),
        out('git', ['-C', tree, 'remote', 'get-url', 'origin']),
      ]);
      return { kind: 'git', tree, ref: s.ref, commit, subject, branch, url: remote ? httpsUrl(remote) : undefined, ...patchFacts(spec.patches) };
    }
  }
}

/** The harness's package version, and its checkout's commit (dirty when tracked files differ from it). */
async function harnessFacts(): Promise<RunFacts['harness']> {
  let version = 'unknown';
  try { version = (JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version?: string }).version ?? version; } catch { /* not in a checkout */ }
  const commit = await out('git', ['-C', projectRoot, 'rev-parse', 'HEAD']);
  if (!commit) return { version };
  let dirty = false;
  try { await exec('git', ['-C', projectRoot, 'diff', '--quiet', 'HEAD', '--'], { timeout: 10_000 }); } catch { dirty = true; }
  return { version, commit, dirty };
}

/** Gathers the facts of a run of `kernels` (undefined = the embedded default pair). Never throws. */
export async function gatherRunFacts(kernels?: readonly string[]): Promise<RunFacts> {
  let specs: Array<{ name: string } & Pick<KernelSpec, 'source' | 'patches'>>;
  try {
    specs = kernels
      ? loadKernelSpecs(kernels)
      : defaultPair().map((v) => ({ name: v.name, patches: v.patches, source: { kind: 'debian' as const, package: DEFAULT_SOURCE_PACKAGE, tarball: '' } }));
  } catch {
    specs = [];
  }
  const [compiler, qemu, harness, sources] = await Promise.all([
    firstLine('gcc', ['--version']),
    firstLine(process.env.KPH_QEMU || 'qemu-system-x86_64', ['--version']),
    harnessFacts(),
    Promise.all(specs.map(async (s) => [s.name, await sourceFacts(s)] as const)),
  ]);
  return { compiler, qemu, harness, sources: Object.fromEntries(sources) };
}

/** Adds the facts to the run directory's run.json (write-then-rename); no run.json, no change. */
export async function recordRunFacts(runDir: string, facts: RunFacts): Promise<void> {
  let manifest: Record<string, unknown>;
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    return;
  }
  await writeJson(runDir, 'run.json', { ...manifest, facts });
}

/** Gathers the run's facts now and records them in run.json; never rejects (results.json carries them too). */
export async function gatherAndRecordRunFacts(runDir: string, kernels?: readonly string[]): Promise<RunFacts> {
  const facts = await gatherRunFacts(kernels);
  try { await recordRunFacts(runDir, facts); } catch { /* a full disk fails the result files later, with a message */ }
  return facts;
}
