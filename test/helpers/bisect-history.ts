// The bisect test's kernel history, kept in the shared cache so that only the first run on a
// machine pays for it: a git repository of Debian's 6.1 source with 4 commits (commit 3 reverts
// 4b01a967, the "regression"), made with fixed dates so its commit hashes are the same on every
// run, and a persistent `make O=` build directory next to it, so each run's builds are
// incremental (only what changed between the bisect steps recompiles).
//
// Layout, keyed by what makes the history and its builds (source tarball identity, revert
// patch, Kconfig fragment, compiler, this recipe):
//   <cache>/test-bisect/<key>/linux/        the repository (a cache entry, made once)
//   <cache>/test-bisect-build/<key>/        the build directory (--build-dir of harness/bisect.mjs)
//   <cache>/test-bisect/<key>.use           lock held while a test uses the repository
// The repository's working tree is shared, so one test at a time uses it (the lock).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import lockfile from 'proper-lockfile';
import { resolveInputs } from '../../harness/src/kernel/build.js';
import { loadKernelSpecs } from '../../harness/src/kernel/spec.js';
import { DEFAULT_TARBALL } from '../../harness/src/kernel/keys.js';
import { cacheEntry, contentKey } from '../../harness/src/util/cache.js';
import { cacheRoot } from '../../harness/src/util/paths.js';

const run = promisify(execFile);

/** Bump when the history below changes. */
const HISTORY_RECIPE = 'kph-test-bisect-history-3: 1 source, 2 doc, 3 revert 4b01a967 in .c files only, 4 README';

/** The branch holding commits 1–4 (the test's other commits are detached). */
const BRANCH = 'kph-history';

/** Fixed identity and dates: the same tree gives the same commit hashes on every run. */
const GIT_ENV = {
  GIT_AUTHOR_NAME: 'kph test', GIT_AUTHOR_EMAIL: 'kph@test', GIT_AUTHOR_DATE: '2024-01-01T00:00:00Z',
  GIT_COMMITTER_NAME: 'kph test', GIT_COMMITTER_EMAIL: 'kph@test', GIT_COMMITTER_DATE: '2024-01-01T00:00:00Z',
};

/** git in `cwd` with the fixed identity; returns stdout, trimmed. */
export async function git(cwd: string, ...args: string[]): Promise<string> {
  return (await run('git', ['-C', cwd, ...args], { maxBuffer: 1 << 26, env: { ...process.env, ...GIT_ENV } })).stdout.trim();
}

export interface BisectHistory {
  /** The repository (its working tree is where git bisect runs). */
  repo: string;
  /** Commits 1–4, oldest first. */
  commits: string[];
  /** Persistent make O= directory for harness/bisect.mjs --build-dir. */
  buildDir: string;
  /** true when the repository already existed (a warm run). */
  cached: boolean;
  /** Seconds spent making the repository (0 when cached). */
  setupSeconds: number;
  /** Ends this test's use of the repository. */
  release: () => Promise<void>;
}

/**
 * Commit 1: the 6.1 source; 2: a doc change; 3: the revert of 4b01a967 in its two .c files (the
 * sysctl and the relaxed scan; the now unused netns field in include/net/netns/ipv4.h stays, so
 * no header changes and a bisect step recompiles a few objects, not the ~200 that include it);
 * 4: a README change.
 */
async function makeHistory(repo: string, revert: string): Promise<void> {
  fs.mkdirSync(repo, { recursive: true });
  await run('tar', ['-xf', DEFAULT_TARBALL, '-C', repo, '--strip-components=1', '--no-same-owner']);
  await git(repo, 'init', '-q', '-b', BRANCH);
  // No background `git gc --auto` after the first commit's 80,000 loose objects.
  await git(repo, 'config', 'gc.auto', '0');
  // Fast zlib for the ~1.2 GB first commit: minutes of CPU saved for some disk.
  await git(repo, 'config', 'core.looseCompression', '1');
  // Debian's tarball ignores everything at its top level (.gitignore "/*"): add by force.
  const commit = async (message: string, change: () => Promise<unknown> | void): Promise<void> => {
    await change();
    await git(repo, 'add', '-A', '-f');
    await git(repo, 'commit', '-q', '--no-verify', '-m', message);
  };
  await commit('1: linux-source-6.1 as shipped', () => undefined);
  await commit('2: a harmless doc change', () => fs.appendFileSync(path.join(repo, 'Documentation/networking/ip-sysctl.rst'), '\n.. kph test: harmless\n'));
  await commit('3: revert 4b01a967 (the regression)', async () => {
    await run('patch', ['-p1', '--batch', '--forward', '-i', revert], { cwd: repo });
    await git(repo, 'checkout', '-q', 'HEAD', '--', 'include/net/netns/ipv4.h');
  });
  await commit('4: another harmless change', () => fs.appendFileSync(path.join(repo, 'README'), '\nkph test 4\n'));
}

/**
 * The history (made on first use), locked for this test, its working tree reset to commit 4
 * with no bisect in progress (a killed earlier run may have left one).
 */
export async function bisectHistory(): Promise<BisectHistory> {
  const revert = loadKernelSpecs(['debian-6.1-before'])[0].patches[0];
  const inputs = await resolveInputs({});
  const key = contentKey([HISTORY_RECIPE, inputs.sourceId, fs.readFileSync(revert), inputs.fragmentText, inputs.compiler]);
  const t0 = Date.now();
  const entry = await cacheEntry('test-bisect', key, (tmp) => makeHistory(path.join(tmp, 'linux'), revert));
  const setupSeconds = entry.cached ? 0 : (Date.now() - t0) / 1000;
  const repo = path.join(entry.dir, 'linux');
  const lockTarget = path.join(path.dirname(entry.dir), `${key}.use`);
  fs.writeFileSync(lockTarget, '', { flag: 'a' });
  const release = await lockfile.lock(lockTarget, { stale: 60_000, update: 10_000, retries: { retries: 100_000, minTimeout: 1_000, maxTimeout: 5_000 } });
  try {
    await git(repo, 'bisect', 'reset').catch(() => '');
    const commits = (await git(repo, 'rev-list', '--reverse', BRANCH)).split('\n');
    if (commits.length !== 4) throw new Error(`${repo}: expected 4 commits, found ${commits.length}`);
    await git(repo, 'checkout', '-q', '-f', '--detach', commits[3]);
    const buildDir = path.join(cacheRoot(), 'test-bisect-build', key);
    return { repo, commits, buildDir, cached: entry.cached, setupSeconds, release };
  } catch (e) {
    await release();
    throw e;
  }
}
