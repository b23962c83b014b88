// The persistent kernel build tree: one extracted source tree per (source, fragment, compiler)
// kept in the cache so that every variant after the first is an incremental build.
//
// Layout of <cache>/kernel-tree/<key>/:
//   src/          the extracted source, built in place
//   state.json    what is applied to src/ and whether a `make` was running (see TreeState)
//   backup/       pristine copies of the files the applied patches touch
//   applied/      copies of the applied patches (so `patch -R` reverses exactly what was applied)
//   build-stamp   touched just before `make` starts
//
// Users are serialised by a lock next to the entry. A user killed at any point (SIGKILL
// included) leaves state.json saying what to undo; the next user repairs the tree before
// using it: files `make` wrote after build-stamp are deleted (they may be half-written),
// patched files are restored from backup/. A tree that cannot be repaired is discarded.
import fs from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { cacheEntry } from '../util/cache.js';
import { runLogged } from '../util/exec.js';
import { cacheRoot } from '../util/paths.js';
import { sha256 } from './keys.js';
import { capture, CaptureError, dieWithParent } from './proc.js';

const STATE_VERSION = 1;

export interface AppliedPatch {
  /** Where the patch came from (for messages). */
  origin: string;
  sha256: string;
  /** Copy inside the tree entry that was applied. */
  copy: string;
}

export interface TouchedFile {
  /** Relative to src/. */
  path: string;
  /** false when the patch creates the file (restoring deletes it). */
  existed: boolean;
}

export interface TreeState {
  version: number;
  /** Patches applied, or being applied, to src/, in order. */
  applied: AppliedPatch[];
  /** Every file those patches touch; pristine copies of the existing ones are in backup/. */
  touched: TouchedFile[];
  /** true from just before `make` starts until it succeeds. */
  building: boolean;
}

export interface BuildTree {
  /** The cache entry directory. */
  dir: string;
  /** The source tree (build in place). */
  src: string;
  state: TreeState;
}

export interface TreeContext {
  log: string;
  signal?: AbortSignal;
  progress: (message: string) => void;
}

export const PATCH_ARGS = ['-p1', '--forward', '--batch', '--no-backup-if-mismatch'] as const;

/** The tree is unusable and must be extracted again. */
class TreeBroken extends Error {}

const cleanState = (): TreeState => ({ version: STATE_VERSION, applied: [], touched: [], building: false });

const statePath = (dir: string): string => path.join(dir, 'state.json');
const backupDir = (dir: string): string => path.join(dir, 'backup');
const appliedDir = (dir: string): string => path.join(dir, 'applied');
export const buildStamp = (dir: string): string => path.join(dir, 'build-stamp');

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(() => true, () => false);
}

async function appendLog(log: string, text: string): Promise<void> {
  await fs.appendFile(log, text.endsWith('\n') ? text : `${text}\n`);
}

export async function writeState(dir: string, state: TreeState): Promise<void> {
  const tmp = `${statePath(dir)}.tmp-${process.pid}`;
  const fh = await fs.open(tmp, 'w');
  try {
    await fh.writeFile(JSON.stringify(state, null, 2) + '\n');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, statePath(dir));
}

async function readState(dir: string): Promise<TreeState> {
  let raw: string;
  try {
    raw = await fs.readFile(statePath(dir), 'utf8');
  } catch {
    throw new TreeBroken('state.json is missing');
  }
  let s: Partial<TreeState>;
  try {
    s = JSON.parse(raw) as Partial<TreeState>;
  } catch {
    throw new TreeBroken('state.json is not JSON');
  }
  if (s.version !== STATE_VERSION || !Array.isArray(s.applied) || !Array.isArray(s.touched) || typeof s.building !== 'boolean') {
    throw new TreeBroken('state.json has an unknown shape');
  }
  return s as TreeState;
}

/** Resolves a path reported by patch inside src/, refusing anything that escapes it. */
function inside(src: string, rel: string): string {
  const abs = path.resolve(src, rel);
  if (!abs.startsWith(src + path.sep)) throw new Error(`patch touches a path outside the tree: ${rel}`);
  return abs;
}

/** Puts every touched file back to its pristine content (writing only files that differ). */
async function restoreFromBackups(tree: { dir: string; src: string }, touched: readonly TouchedFile[]): Promise<number> {
  let written = 0;
  for (const t of touched) {
    const target = inside(tree.src, t.path);
    if (!t.existed) {
      if (await exists(target)) {
        await fs.rm(target, { force: true });
        written++;
      }
      continue;
    }
    const backup = path.join(backupDir(tree.dir), t.path);
    const want = await fs.readFile(backup).catch(() => {
      throw new TreeBroken(`the pristine copy of ${t.path} is missing`);
    });
    const cur = await fs.readFile(target).catch(() => undefined);
    if (cur && cur.equals(want)) continue;
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.copyFile(backup, target);
    written++;
  }
  return written;
}

async function matchesBackups(tree: { dir: string; src: string }, touched: readonly TouchedFile[]): Promise<boolean> {
  for (const t of touched) {
    const target = inside(tree.src, t.path);
    if (!t.existed) {
      if (await exists(target)) return false;
      continue;
    }
    const [want, cur] = await Promise.all([
      fs.readFile(path.join(backupDir(tree.dir), t.path)).catch(() => undefined),
      fs.readFile(target).catch(() => undefined),
    ]);
    if (!want || !cur || !want.equals(cur)) return false;
  }
  return true;
}

async function dropScratch(dir: string): Promise<void> {
  await fs.rm(backupDir(dir), { recursive: true, force: true });
  await fs.rm(appliedDir(dir), { recursive: true, force: true });
}

/**
 * Deletes every file written after build-stamp: outputs of a make that did not succeed may be
 * half-written (a SIGKILLed compiler), and make would take them as up to date.
 * include/config/ is kept: Kconfig writes it by rename (never half-written), and without
 * auto.conf the next syncconfig would touch every include/config/<SYMBOL> file, which
 * recompiles the whole kernel.
 */
async function deleteMakeOutputs(tree: BuildTree, ctx: TreeContext): Promise<void> {
  if (!(await exists(buildStamp(tree.dir)))) throw new TreeBroken('an unfinished make left no build-stamp');
  await deleteFilesNewer(tree.src, buildStamp(tree.dir), ctx.log);
}

/** Deletes the files under `root` (but not under root/include/config) written after `stamp`; logs what went. */
export async function deleteFilesNewer(root: string, stamp: string, log: string): Promise<void> {
  const r = await capture('find', [root, '-newer', stamp, '-type', 'f', '-not', '-path', path.join(root, 'include', 'config', '*'), '-print', '-delete']);
  const files = r.stdout.split('\n').filter(Boolean);
  const shown = files.slice(0, 40).map((f) => `  ${path.relative(root, f)}`).join('\n');
  await appendLog(log, `deleted ${files.length} files written by the unfinished make${files.length ? `:\n${shown}${files.length > 40 ? '\n  ...' : ''}` : ''}`);
}

/** Brings a tree left behind by an interrupted user back to pristine. */
async function repair(tree: BuildTree, ctx: TreeContext): Promise<void> {
  const s = tree.state;
  if (s.building || s.applied.length > 0 || s.touched.length > 0) {
    ctx.progress('repairing the build tree (a previous build was interrupted)');
    await appendLog(ctx.log, `repairing ${tree.dir}: state ${JSON.stringify(s)}`);
    // Order matters: make's outputs first (patched sources are older than the stamp, but
    // files a killed `patch -R` rewrote are newer: they are put back from backup/ just after).
    if (s.building) await deleteMakeOutputs(tree, ctx);
    const n = await restoreFromBackups(tree, s.touched);
    await appendLog(ctx.log, `restored ${n} patched files from backup`);
    tree.state = cleanState();
    await writeState(tree.dir, tree.state);
  }
  await dropScratch(tree.dir);
}

async function extract(tmp: string, tarball: string, ctx: TreeContext): Promise<void> {
  ctx.progress(`extracting ${path.basename(tarball)}`);
  const [cmd, args] = await dieWithParent('tar', ['-xf', tarball, '-C', tmp, '--no-same-owner']);
  await runLogged(cmd, args, { log: ctx.log, signal: ctx.signal });
  const top = await fs.readdir(tmp);
  if (top.length !== 1) throw new Error(`${tarball} should hold one top-level directory, found: ${top.join(', ')}`);
  await fs.rename(path.join(tmp, top[0]), path.join(tmp, 'src'));
  await writeState(tmp, cleanState());
}

async function discard(dir: string): Promise<void> {
  // Marker and state first, so a discard killed halfway never leaves a "complete" tree.
  await fs.rm(path.join(dir, '.complete'), { force: true });
  await fs.rm(statePath(dir), { force: true });
  await fs.rm(dir, { recursive: true, force: true });
}

async function openTree(key: string, tarball: string, ctx: TreeContext): Promise<BuildTree> {
  for (let attempt = 0; ; attempt++) {
    const entry = await cacheEntry('kernel-tree', key, (tmp) => extract(tmp, tarball, ctx));
    const tree: BuildTree = { dir: entry.dir, src: path.join(entry.dir, 'src'), state: cleanState() };
    try {
      tree.state = await readState(tree.dir);
      await repair(tree, ctx);
      return tree;
    } catch (e) {
      if (!(e instanceof TreeBroken) || attempt > 0) throw e;
      ctx.progress(`discarding the build tree (${e.message})`);
      await appendLog(ctx.log, `discarding ${tree.dir}: ${e.message}`);
      await discard(tree.dir);
    }
  }
}

/**
 * Runs fn with exclusive use of the build tree for `key` (extracted from `tarball` on first
 * use, repaired if a previous user was interrupted). fn receives a pristine tree.
 */
export async function withBuildTree<T>(key: string, tarball: string, ctx: TreeContext, fn: (tree: BuildTree) => Promise<T>): Promise<T> {
  const base = path.join(cacheRoot(), 'kernel-tree');
  await fs.mkdir(base, { recursive: true });
  return withExclusive(path.join(base, `${key}.tree.lock`), `the build tree ${key}`, ctx, async (signal) => {
    const tree = await openTree(key, tarball, { ...ctx, signal });
    return fn(tree);
  });
}

/**
 * Runs fn while holding a lock file (created if missing), waiting for another holder if
 * needed. fn's signal also aborts if the lock is lost (its holder looked dead to someone else).
 */
export async function withExclusive<T>(lockTarget: string, what: string, ctx: TreeContext, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  await fs.writeFile(lockTarget, '', { flag: 'a' });
  const lost = new AbortController();
  const options = {
    stale: 30_000,
    update: 5_000,
    onCompromised: (err: Error) => lost.abort(new Error(`lost the lock on ${what}: ${err.message}`)),
  };
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(lockTarget, { ...options, retries: 0 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ELOCKED') throw e;
    ctx.progress(`waiting for another build using ${what}`);
    release = await lockfile.lock(lockTarget, {
      ...options,
      retries: { retries: 100_000, minTimeout: 500, maxTimeout: 2_000, factor: 1.2 },
    });
  }
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, lost.signal]) : lost.signal;
  try {
    return await fn(signal);
  } finally {
    await release().catch(() => undefined);
  }
}

function parseCheckedFiles(output: string): string[] {
  const files: string[] = [];
  for (const line of output.split('\n')) {
    const m = /^checking file (.+)$/.exec(line.trimEnd());
    if (!m) continue;
    let f = m[1];
    if (f.length > 1 && f.startsWith("'") && f.endsWith("'")) f = f.slice(1, -1);
    files.push(f);
  }
  return files;
}

export interface PatchInput {
  origin: string;
  content: Buffer;
}

/**
 * Applies patches in order with `patch -p1`. Before each one: a dry run (nothing changes if it
 * does not apply), pristine copies of the files it touches, and state.json updated, so an
 * interruption at any point is repaired by the next user.
 */
export async function applyPatches(tree: BuildTree, patches: readonly PatchInput[], ctx: TreeContext): Promise<void> {
  await fs.mkdir(appliedDir(tree.dir), { recursive: true });
  const known = new Set(tree.state.touched.map((t) => t.path));
  for (const [i, p] of patches.entries()) {
    ctx.signal?.throwIfAborted();
    const copy = path.join(appliedDir(tree.dir), `${i}-${path.basename(p.origin)}`);
    await fs.writeFile(copy, p.content);
    ctx.progress(`applying ${path.basename(p.origin)}`);
    await appendLog(ctx.log, `\n$ patch ${PATCH_ARGS.join(' ')} --dry-run -i ${copy}   (from ${p.origin})`);
    let out: string;
    try {
      const r = await capture('patch', [...PATCH_ARGS, '--dry-run', '-i', copy], { cwd: tree.src, signal: ctx.signal });
      out = r.stdout + r.stderr;
    } catch (e) {
      if (e instanceof CaptureError) {
        await appendLog(ctx.log, e.output);
        throw new Error(`${p.origin} does not apply cleanly (patch -p1 --dry-run):\n${e.output.trim()}`);
      }
      throw e;
    }
    await appendLog(ctx.log, out);
    const files = parseCheckedFiles(out);
    if (files.length === 0) throw new Error(`${p.origin}: patch reported no files to change`);
    for (const f of files) {
      if (known.has(f)) continue;
      const abs = inside(tree.src, f);
      const existed = await exists(abs);
      if (existed) {
        const b = path.join(backupDir(tree.dir), f);
        await fs.mkdir(path.dirname(b), { recursive: true });
        await fs.copyFile(abs, b);
      }
      known.add(f);
      tree.state.touched.push({ path: f, existed });
    }
    tree.state.applied.push({ origin: p.origin, sha256: sha256(p.content), copy });
    await writeState(tree.dir, tree.state);
    await runLogged('patch', [...PATCH_ARGS, '-i', copy], { cwd: tree.src, log: ctx.log, signal: ctx.signal });
  }
}

/** Marks the start (true: stamp + state) or the successful end (false) of a `make` in the tree. */
export async function markBuilding(tree: BuildTree, building: boolean): Promise<void> {
  if (building) {
    await fs.writeFile(buildStamp(tree.dir), `${new Date().toISOString()}\n`);
    const now = new Date();
    await fs.utimes(buildStamp(tree.dir), now, now);
  }
  tree.state.building = building;
  await writeState(tree.dir, tree.state);
}

/**
 * After a build: deletes what an unsuccessful make wrote, reverses the applied patches
 * (`patch -R`, newest first), checks every touched file is pristine again and falls back to
 * the backups if not. Not abortable: it runs in `finally`.
 */
export async function restorePristine(tree: BuildTree, ctx: TreeContext): Promise<void> {
  const s = tree.state;
  if (s.building) {
    // make failed or was aborted: drop what it wrote before patch -R makes sources newer than the stamp.
    await deleteMakeOutputs(tree, ctx);
    s.building = false;
    await writeState(tree.dir, s);
  }
  if (s.applied.length > 0) {
    ctx.progress('restoring the pristine tree (patch -R)');
    let reversed = true;
    for (const a of [...s.applied].reverse()) {
      try {
        await runLogged('patch', [...PATCH_ARGS, '-R', '-i', a.copy], { cwd: tree.src, log: ctx.log });
      } catch {
        reversed = false;
        break;
      }
    }
    if (!reversed || !(await matchesBackups(tree, s.touched))) {
      await appendLog(ctx.log, 'patch -R did not give back the pristine files; restoring them from backup/');
      await restoreFromBackups(tree, s.touched);
    }
  } else if (s.touched.length > 0) {
    await restoreFromBackups(tree, s.touched);
  }
  tree.state = cleanState();
  await writeState(tree.dir, tree.state);
  await dropScratch(tree.dir);
}
