// The run's facts, gathered while the run happens and recorded in run.json and results.json:
// compiler, QEMU, where each kernel came from (what its source's facts() says: Debian package
// and version, git commit, repository URL and branch, patches and their hashes, compiler,
// localversion) and the harness's own version and commit. The
// writers of the result files (results/kcidb.ts above all) read them from the run document only, so
// a merge or a re-render on a host without gcc, QEMU or the kernel source says the same.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { kernelSelection, type KernelSelection } from '../kernel/select.js';
import type { KernelFacts } from '../kernel/source.js';
import { projectRoot } from '../util/paths.js';
import { writeJson } from '../util/write.js';

export { httpsUrl } from '../kernel/source-git.js';

/** Where one kernel came from: what its source kind's facts() said (kernel/source.ts). */
export type SourceFacts = KernelFacts;

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

/**
 * Gathers the facts of a run of `kernels`: kernel names (undefined = the default pair), or a
 * selection already loaded. Each kernel's facts come from its own source (kernel/kinds.ts). Never throws.
 */
export async function gatherRunFacts(kernels?: readonly string[] | KernelSelection): Promise<RunFacts> {
  let selection: KernelSelection | undefined;
  try {
    selection = kernels === undefined || Array.isArray(kernels) ? kernelSelection(kernels as readonly string[] | undefined) : kernels as KernelSelection;
  } catch {
    selection = undefined;
  }
  const [compiler, qemu, harness, sources] = await Promise.all([
    firstLine('gcc', ['--version']),
    firstLine(process.env.KPH_QEMU || 'qemu-system-x86_64', ['--version']),
    harnessFacts(),
    selection ? selection.facts().catch(() => ({})) : {},
  ]);
  return { compiler, qemu, harness, sources };
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
export async function gatherAndRecordRunFacts(runDir: string, kernels?: readonly string[] | KernelSelection): Promise<RunFacts> {
  const facts = await gatherRunFacts(kernels);
  try { await recordRunFacts(runDir, facts); } catch { /* a full disk fails the result files later, with a message */ }
  return facts;
}
