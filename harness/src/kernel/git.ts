// Kernels built from a git tree: a worktree of the repository in the cache, checked out at the
// wanted commit and built out of tree (`make O=`) in a persistent build directory, so building
// another commit of the same repository recompiles only what changed. Each built kernel is a
// cache entry keyed by the commit (+ uncommitted changes + patches + fragment + compiler +
// localversion).
//
// Build directory (one per repository + fragment + compiler, or --build-dir):
//   src/          git worktree of the repository (detached; reset to the commit before each build)
//   obj/          make O= output, kept between builds
//   state.json    {"building": true} from just before make starts until it ends
//   build-stamp   touched just before make starts; a killed make's newer outputs are deleted
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { cacheEntry, contentKey } from '../util/cache.js';
import { cacheRoot } from '../util/paths.js';
import { compileCounter, KernelBuildError, logTail, makeEnv, validateVariant, variantEntries, type BuiltKernel } from './build.js';
import { assertConfig, parseFragment, renderFragment } from './config.js';
import { compilerIdentity, DEFAULT_FRAGMENT, KERNEL_RECIPE_VERSION, sha256 } from './keys.js';
import { capture, CaptureError, dieWithParent } from './proc.js';
import { runLogged } from '../util/exec.js';
import { deleteFilesNewer, PATCH_ARGS, withExclusive, type TreeContext } from './tree.js';

/** A commit of a git repository, resolved. */
export interface GitSource {
  /** Top level of the working tree the ref was resolved in. */
  toplevel: string;
  /** Real path of the repository's common git directory (shared by all its worktrees). */
  commonDir: string;
  /** Full commit hash. */
  commit: string;
  subject: string;
}

/** The repository or ref cannot be used (the user's input, not the kernel's fault). */
export class GitSourceError extends Error {
  override name = 'GitSourceError';
}

const BZIMAGE = 'arch/x86/boot/bzImage';

async function git(cwd: string, args: string[], signal?: AbortSignal): Promise<string> {
  return (await capture('git', ['-C', cwd, ...args], { signal })).stdout;
}

/** Resolves `ref` in the repository holding `repo` (any path inside its working tree). */
export async function resolveGit(repo: string, ref: string): Promise<GitSource> {
  let toplevel: string;
  try {
    toplevel = (await git(repo, ['rev-parse', '--show-toplevel'])).trim();
  } catch (e) {
    throw new GitSourceError(`${repo} is not inside a git working tree: ${e instanceof CaptureError ? e.output.trim() : (e as Error).message}`);
  }
  let commit: string;
  try {
    commit = (await git(toplevel, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`])).trim();
  } catch {
    throw new GitSourceError(`${toplevel}: ${JSON.stringify(ref)} does not name a commit`);
  }
  const commonDir = await fs.realpath(path.resolve(toplevel, (await git(toplevel, ['rev-parse', '--git-common-dir'])).trim()));
  const subject = (await git(toplevel, ['log', '-1', '--format=%s', commit])).trim();
  return { toplevel, commonDir, commit, subject };
}

/** `git diff HEAD --binary` of the working tree: its uncommitted changes to tracked files ('' when clean). */
export async function uncommittedChanges(toplevel: string): Promise<string> {
  return git(toplevel, ['diff', 'HEAD', '--binary']);
}

export interface GitKernelOptions {
  /** Variant name ([a-z0-9][a-z0-9.-]*): names the log and the kernel in results. */
  name: string;
  profile: string;
  /** e.g. '-kph-1a2b3c4d5e6f'; `uname -r` ends with it. */
  localversion: string;
  source: GitSource;
  /** A diff (git diff HEAD --binary) applied on top of the commit: the tree's uncommitted changes. */
  localDiff?: string;
  /** Absolute paths, applied in order with patch -p1 after localDiff. */
  patches?: string[];
  /** Kconfig fragment; default kernels/config/kph.config. */
  fragment?: string;
  /** Persistent worktree + make O= directory; default <cache>/kernel-git/<repository+fragment+compiler key>. */
  buildDir?: string;
  logDir: string;
  signal?: AbortSignal;
  onProgress?: (message: string) => void;
  /** make -j; default: number of CPUs + 1. */
  jobs?: number;
}

export interface GitBuiltKernel extends BuiltKernel {
  commit: string;
  /** The persistent build directory used (or that would have been used, when cached). */
  buildDir: string;
}

interface Inputs { fragmentPath: string; fragmentText: string; compiler: string; patches: Buffer[] }

/** Key of the built kernel: commit, uncommitted changes, patches, fragment, compiler, localversion. */
export function gitKernelKey(o: { commit: string; localDiff?: string; fragmentText: string; compiler: string; localversion: string; patches: readonly Buffer[] }): string {
  return contentKey([
    KERNEL_RECIPE_VERSION, 'git-kernel', o.commit, o.localDiff ? sha256(o.localDiff) : '', o.fragmentText, o.compiler, o.localversion,
    String(o.patches.length), ...o.patches,
  ]);
}

/** Default persistent build directory of a repository (by its git directory's path), fragment and compiler. */
export function defaultGitBuildDir(commonDir: string, fragmentText: string, compiler: string): string {
  return path.join(cacheRoot(), 'kernel-git', contentKey([KERNEL_RECIPE_VERSION, 'git-build-dir', commonDir, fragmentText, compiler]));
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(() => true, () => false);
}

async function logLine(log: string, text: string): Promise<void> {
  await fs.appendFile(log, text.endsWith('\n') ? text : `${text}\n`);
}

async function gitLogged(cwd: string, args: string[], ctx: TreeContext): Promise<void> {
  await logLine(ctx.log, `$ git -C ${cwd} ${args.join(' ')}`);
  try {
    const r = await capture('git', ['-C', cwd, ...args], { signal: ctx.signal });
    if ((r.stdout + r.stderr).trim()) await logLine(ctx.log, r.stdout + r.stderr);
  } catch (e) {
    if (e instanceof CaptureError) await logLine(ctx.log, e.output);
    throw e;
  }
}

/** Puts src/ at the commit, clean (a fresh worktree the first time, or after a broken one). */
async function checkout(dir: string, source: GitSource, ctx: TreeContext): Promise<string> {
  const src = path.join(dir, 'src');
  for (let attempt = 0; ; attempt++) {
    try {
      if (!(await exists(path.join(src, '.git')))) {
        await fs.rm(src, { recursive: true, force: true });
        await gitLogged(source.toplevel, ['worktree', 'prune'], ctx);
        ctx.progress(`adding a worktree of ${source.toplevel} (first build of this repository here)`);
        await gitLogged(source.toplevel, ['worktree', 'add', '--detach', '--force', src, source.commit], ctx);
      } else {
        ctx.progress(`checking out ${source.commit.slice(0, 12)} (${source.subject})`);
        await gitLogged(src, ['checkout', '--detach', '--force', '--quiet', source.commit], ctx);
      }
      await gitLogged(src, ['clean', '-fdqx'], ctx);
      return src;
    } catch (e) {
      if (ctx.signal?.aborted || attempt > 0) throw e;
      ctx.progress('the worktree is unusable; making a new one');
      await fs.rm(src, { recursive: true, force: true });
    }
  }
}

async function writeState(dir: string, building: boolean): Promise<void> {
  if (building) await fs.writeFile(path.join(dir, 'build-stamp'), `${new Date().toISOString()}\n`);
  const tmp = path.join(dir, `state.json.tmp-${process.pid}`);
  await fs.writeFile(tmp, JSON.stringify({ building }) + '\n');
  await fs.rename(tmp, path.join(dir, 'state.json'));
}

/** Deletes what a make killed in a previous use left half-written in obj/. */
async function repairObj(dir: string, ctx: TreeContext): Promise<void> {
  const state = JSON.parse(await fs.readFile(path.join(dir, 'state.json'), 'utf8').catch(() => '{}')) as { building?: boolean };
  if (!state.building) return;
  ctx.progress('repairing the build directory (a previous make was interrupted)');
  const stamp = path.join(dir, 'build-stamp');
  if (await exists(stamp)) await deleteFilesNewer(path.join(dir, 'obj'), stamp, ctx.log);
  else await fs.rm(path.join(dir, 'obj'), { recursive: true, force: true });
  await writeState(dir, false);
}

async function applyOnTop(src: string, dir: string, o: GitKernelOptions, inputs: Inputs, ctx: TreeContext): Promise<void> {
  if (o.localDiff) {
    const file = path.join(dir, 'uncommitted.diff');
    await fs.writeFile(file, o.localDiff);
    ctx.progress('applying the uncommitted changes of the tree under test');
    await gitLogged(src, ['apply', '--binary', '--whitespace=nowarn', file], ctx).catch((e: Error) => {
      throw new Error(`the uncommitted changes of ${o.source.toplevel} do not apply to ${o.source.commit}: ${e.message}`);
    });
  }
  for (const [i, p] of (o.patches ?? []).entries()) {
    const copy = path.join(dir, `patch-${i}`);
    await fs.writeFile(copy, inputs.patches[i]);
    ctx.progress(`applying ${path.basename(p)}`);
    try {
      await capture('patch', [...PATCH_ARGS, '--dry-run', '-i', copy], { cwd: src, signal: ctx.signal });
    } catch (e) {
      if (e instanceof CaptureError) throw new Error(`${p} does not apply cleanly to ${o.source.commit} (patch -p1 --dry-run):\n${e.output.trim()}`);
      throw e;
    }
    const r = await capture('patch', [...PATCH_ARGS, '-i', copy], { cwd: src, signal: ctx.signal });
    await logLine(ctx.log, `$ patch ${PATCH_ARGS.join(' ')} -i ${p}\n${r.stdout}${r.stderr}`);
  }
}

/** tinyconfig + fragment + olddefconfig, make bzImage, all in obj/; copies the results into `out`. */
async function makeKernel(src: string, dir: string, out: string, o: GitKernelOptions, inputs: Inputs, ctx: TreeContext): Promise<void> {
  const obj = path.join(dir, 'obj');
  await fs.mkdir(obj, { recursive: true });
  const env = makeEnv();
  const jobs = o.jobs ?? os.availableParallelism() + 1;
  const run = async (cmd: string, args: string[], onOutput?: (chunk: string) => void): Promise<void> => {
    const [bin, argv] = await dieWithParent(cmd, args);
    await runLogged(bin, argv, { cwd: src, env, log: ctx.log, signal: ctx.signal, onOutput });
  };
  const wanted = variantEntries(parseFragment(inputs.fragmentText, inputs.fragmentPath), o.localversion);
  const merged = path.join(dir, 'fragment.config');
  await fs.writeFile(merged, renderFragment(wanted));
  await writeState(dir, true);
  let finished = false;
  try {
    ctx.progress(`configuring (tinyconfig + ${path.basename(inputs.fragmentPath)}, LOCALVERSION=${o.localversion})`);
    await run('make', [`O=${obj}`, 'tinyconfig']);
    await run('scripts/kconfig/merge_config.sh', ['-m', '-O', obj, path.join(obj, '.config'), merged]);
    await run('make', [`O=${obj}`, 'olddefconfig']);
    assertConfig(inputs.fragmentPath, wanted, await fs.readFile(path.join(obj, '.config'), 'utf8'));

    ctx.progress(`compiling bzImage in ${obj} (make -j${jobs})`);
    const counter = compileCounter(ctx.progress);
    try {
      await run('make', [`O=${obj}`, `-j${jobs}`, 'bzImage'], counter.onOutput);
    } finally {
      counter.stop();
    }
    finished = true;
  } finally {
    // make's own failures leave complete files (Kbuild deletes a failed target); only an
    // abort (SIGKILL of the group) can leave half-written ones: delete those now.
    if (!finished && ctx.signal?.aborted) await deleteFilesNewer(obj, path.join(dir, 'build-stamp'), ctx.log);
    await writeState(dir, false);
  }

  const release = (await capture('make', [`O=${obj}`, '-s', 'kernelrelease'], { cwd: src, env, signal: ctx.signal })).stdout.trim();
  if (!release.endsWith(o.localversion)) throw new Error(`kernel release ${JSON.stringify(release)} does not end with ${o.localversion}`);
  const image = await fs.readFile(path.join(obj, BZIMAGE));
  if (!image.includes(Buffer.from(`${release} (`))) throw new Error(`${BZIMAGE} does not contain the release string ${release}`);
  ctx.progress('copying bzImage and .config into the cache');
  await fs.writeFile(path.join(out, 'bzImage'), image);
  await fs.copyFile(path.join(obj, '.config'), path.join(out, 'config'));
  await fs.copyFile(path.join(obj, 'System.map'), path.join(out, 'System.map'));
  await fs.writeFile(path.join(out, 'release'), `${release}\n`);
  const build = {
    recipe: KERNEL_RECIPE_VERSION, variant: o.name, profile: o.profile, localversion: o.localversion, release,
    source: { git: o.source.toplevel, commit: o.source.commit, subject: o.source.subject, uncommitted: o.localDiff ? sha256(o.localDiff) : null },
    fragment: { path: inputs.fragmentPath, sha256: sha256(inputs.fragmentText) },
    compiler: inputs.compiler,
    patches: (o.patches ?? []).map((p, i) => ({ path: p, sha256: sha256(inputs.patches[i]) })),
    buildDir: dir,
    builtAt: new Date().toISOString(),
  };
  await fs.writeFile(path.join(out, 'build.json'), JSON.stringify(build, null, 2) + '\n');
}

/**
 * Builds (or finds in the cache) the kernel at a commit of a git repository. Throws
 * KernelBuildError when this commit cannot be built (a patch does not apply, the fragment is
 * not honoured, make fails); other errors (git, disk) are thrown as they are.
 */
export async function buildGitKernel(o: GitKernelOptions): Promise<GitBuiltKernel> {
  const patches = o.patches ?? [];
  validateVariant({ name: o.name, localversion: o.localversion, patches, profile: o.profile });
  await fs.mkdir(o.logDir, { recursive: true });
  const log = path.resolve(o.logDir, `kernel-${o.name}.log`);
  const progress = (m: string): void => o.onProgress?.(m);
  const t0 = performance.now();
  const fragmentPath = o.fragment ?? DEFAULT_FRAGMENT;
  const [fragmentText, compiler, patchContents] = await Promise.all([
    fs.readFile(fragmentPath, 'utf8'),
    compilerIdentity(),
    Promise.all(patches.map((p) => fs.readFile(p))),
  ]);
  const inputs: Inputs = { fragmentPath, fragmentText, compiler, patches: patchContents };
  const dir = o.buildDir ? path.resolve(o.buildDir) : defaultGitBuildDir(o.source.commonDir, fragmentText, compiler);
  const key = gitKernelKey({ commit: o.source.commit, localDiff: o.localDiff, fragmentText, compiler, localversion: o.localversion, patches: patchContents });
  let built = false;
  const entry = await cacheEntry('kernel', key, async (out) => {
    built = true;
    await logLine(log, `\n=== kernel ${o.name} (${o.localversion}) key ${key}: ${o.source.toplevel} ${o.source.commit} "${o.source.subject}"` +
      `${o.localDiff ? ' + uncommitted changes' : ''}; ${compiler}; fragment ${fragmentPath}; patches: ${patches.join(', ') || 'none'}; ` +
      `build directory ${dir}; started ${new Date().toISOString()}`);
    await fs.mkdir(dir, { recursive: true });
    const ctx: TreeContext = { log, signal: o.signal, progress };
    await withExclusive(path.join(dir, 'lock'), `the build directory ${dir}`, ctx, async (signal) => {
      const c: TreeContext = { ...ctx, signal };
      await repairObj(dir, c);
      const src = await checkout(dir, o.source, c);
      try {
        await applyOnTop(src, dir, o, inputs, c);
        await makeKernel(src, dir, out, o, inputs, c);
      } catch (e) {
        if (signal.aborted) throw signal.reason ?? e;
        throw new KernelBuildError(o.name, log, await logTail(log), { cause: e });
      }
    });
  });
  const release = (await fs.readFile(path.join(entry.dir, 'release'), 'utf8')).trim();
  const seconds = Math.round((performance.now() - t0) / 100) / 10;
  if (!built) await logLine(log, `\n=== kernel ${o.name}: cached ${entry.dir} (${release}, ${o.source.commit})`);
  progress(built ? `built ${release} in ${seconds} s` : `cached ${release}`);
  return {
    name: o.name, profile: o.profile, bzImage: path.join(entry.dir, 'bzImage'), release, config: path.join(entry.dir, 'config'),
    cached: !built, seconds, log, commit: o.source.commit, buildDir: dir,
  };
}
