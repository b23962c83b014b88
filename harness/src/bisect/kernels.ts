// A bisect step's kernels: the commit under test (HEAD of the tree, with its uncommitted
// changes; a commit that does not build is a skip) and, in behaviour mode, the good commit,
// built, booted and recorded once per bisect session.
import fs from 'node:fs';
import path from 'node:path';
import { KernelBuildError, type BuiltKernel } from '../kernel/build.js';
import { buildGitKernel, GitSourceError, resolveGit, type GitSource } from '../kernel/git.js';
import { writeJson } from '../util/write.js';
import { runKernelJob } from '../run/scheduler.js';
import { contentKey } from '../util/cache.js';
import { observationsOf, type GoodObservations } from './behaviour.js';
import { AbortBisect, finish, type Step } from './step.js';
import { BISECT_EXIT } from './verdict.js';

/** Builds HEAD (or takes it from the cache); on a build failure, logs the step and returns 125. */
export async function buildHead(step: Step, localDiff: string): Promise<BuiltKernel | number> {
  const { head, opts, signal, ctx } = step;
  try {
    const k = await buildGitKernel({
      name: 'head', profile: opts.profile ?? 'behaviour', localversion: `-kph-${head.commit.slice(0, 12)}`, source: head, localDiff: localDiff || undefined,
      buildDir: opts.buildDir, logDir: step.stepDir, signal, onProgress: (m) => ctx.emit({ type: 'progress', scope: 'kernel head', message: m }),
    });
    step.record.build = { seconds: k.seconds, cached: k.cached, release: k.release, log: k.log };
    ctx.emit({ type: 'kernel-built', kernel: 'head', release: k.release, cached: k.cached, seconds: k.seconds });
    return k;
  } catch (e) {
    if (signal.aborted) return finish(step, { verdict: 'interrupted', why: 'interrupted during the build', exitCode: BISECT_EXIT.interrupted });
    if (!(e instanceof KernelBuildError)) throw e;
    const cause = e.cause instanceof Error ? e.cause.message : String(e.cause);
    const lines = e.tail.split('\n');
    const errors = lines.filter((l) => /\berror\b|\*\*\*/i.test(l));
    step.record.build = { seconds: (Date.now() - step.t0) / 1000, cached: false, release: '', log: e.log, error: `${cause}\n${(errors.length ? errors : lines).slice(-15).join('\n')}` };
    return finish(step, { verdict: 'skip', why: `the commit does not build: ${cause.split('\n')[0]}`, exitCode: BISECT_EXIT.skip });
  }
}

/** The good commit's observations: from the bisect directory, else built, booted and recorded now. */
export async function goodObservations(step: Step): Promise<GoodObservations> {
  const { opts, head, cells, ctx, signal } = step;
  let source: GitSource;
  try {
    source = await resolveGit(head.toplevel, opts.goodRef!);
  } catch (e) {
    if (e instanceof GitSourceError) throw new AbortBisect(`--good-ref ${opts.goodRef}: ${e.message}`);
    throw e;
  }
  const selection = contentKey(cells.map((c) => `${c.id} ${c.guests.join(',')}`)).slice(0, 8);
  const file = path.join(step.dir, `good-${source.commit.slice(0, 12)}-${selection}.json`);
  if (fs.existsSync(file)) {
    const known = JSON.parse(fs.readFileSync(file, 'utf8')) as GoodObservations;
    step.record.good = { ref: opts.goodRef!, commit: known.commit, release: known.release };
    return known;
  }
  ctx.emit({ type: 'progress', scope: 'good', message: `recording the good commit ${source.commit.slice(0, 12)} (${source.subject}) once for this bisect` });
  let k: BuiltKernel;
  try {
    k = await buildGitKernel({
      name: 'good', profile: 'good', localversion: `-kph-${source.commit.slice(0, 12)}`, source, buildDir: opts.buildDir, logDir: step.stepDir, signal,
      onProgress: (m) => ctx.emit({ type: 'progress', scope: 'kernel good', message: m }),
    });
  } catch (e) {
    if (signal.aborted) throw e;
    throw new AbortBisect(`the good commit ${opts.goodRef} (${source.commit.slice(0, 12)}) cannot be built: ${(e as Error).message}`);
  }
  const job = await runKernelJob({ name: 'good', release: k.release, bzImage: k.bzImage, profile: 'good' }, cells, ctx);
  signal.throwIfAborted();
  let good: GoodObservations;
  try {
    good = observationsOf(job, cells, source);
  } catch (e) {
    throw new AbortBisect((e as Error).message);
  }
  await writeJson(step.dir, path.basename(file), good);
  step.record.good = { ref: opts.goodRef!, commit: good.commit, release: good.release };
  return good;
}
