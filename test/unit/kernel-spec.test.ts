// Kernel descriptions (kernels/*.yaml): the shipped ones load, every kind of bad input names
// file:line:column and the key, the default pair keeps its cache keys, a prebuilt bzImage
// gets its release from the file, and the git builder (on a fake kernel tree) builds, caches
// and fails as promised.
import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { SourceErrors } from '../../harness/src/core/source-error.js';
import { kernelCacheKeys, KernelBuildError, type KernelVariant } from '../../harness/src/kernel/build.js';
import { buildGitKernel, gitKernelKey, resolveGit } from '../../harness/src/kernel/git.js';
import { commonInputs, kernelKey, treeKey, DEFAULT_SOURCE_PACKAGE, DEFAULT_TARBALL, type CommonInputs } from '../../harness/src/kernel/keys.js';
import { bzImageVersion, prebuiltRelease } from '../../harness/src/kernel/prebuilt.js';
import { kernelSelection } from '../../harness/src/kernel/select.js';
import { KERNELS_DIR, loadKernelSpec, loadKernelSpecs } from '../../harness/src/kernel/spec.js';
import { runCli } from '../helpers/cli.js';

const run = promisify(execFile);
// The user's real cache (read only, to find the default pair's existing entries), taken
// before this file points KPH_CACHE_DIR at a private folder for what it builds itself.
const userCache = process.env.KPH_CACHE_DIR ?? path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'kernel-patch-harness');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-kernel-spec-'));
process.env.KPH_CACHE_DIR = path.join(scratch, 'cache');
test.after.always(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** Writes a description into a fresh folder and returns the error lines (file name only). */
function errorsOf(name: string, text: string): string[] {
  const dir = fs.mkdtempSync(path.join(scratch, 'specs-'));
  fs.mkdirSync(path.join(dir, 'patches'));
  fs.writeFileSync(path.join(dir, 'patches', 'p.patch'), '');
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(file, text);
  try {
    loadKernelSpec(file);
  } catch (e) {
    if (e instanceof SourceErrors) return e.errors.map((x) => x.message.slice(dir.length + 1));
    throw e;
  }
  return [];
}

const DEBIAN = 'name: k\nsource:\n  debian: linux-source-6.1\nlocalversion: -kph-k\nprofile: pre-4b01a967\n';

test('the shipped descriptions load; the 6.1 pair is the embedded pair', (t) => {
  const [after, before] = loadKernelSpecs(['debian-6.1-after', 'debian-6.1-before']);
  t.deepEqual(after.source, { kind: 'debian', package: 'linux-source-6.1', tarball: DEFAULT_TARBALL });
  // Without --kernels the run is these two files, named after and before in results.
  const [dAfter, dBefore] = kernelSelection().kernels.map((k) => k.spec);
  t.deepEqual(dAfter, { ...after, name: 'after' });
  t.deepEqual(dBefore, { ...before, name: 'before' });
  t.is(after.localversion, '-kph-after');
  t.deepEqual(after.patches, []);
  t.is(before.localversion, '-kph-before');
  t.deepEqual(before.patches, [path.join(KERNELS_DIR, 'patches', '6.1', 'revert-4b01a967.patch')]);
  t.is(after.fragment, path.join(KERNELS_DIR, 'config', 'kph.config'));

  // A Debian source not installed yet loads: provisioning installs it (issue 9 row 21).
  t.like(loadKernelSpecs(['debian-6.12'])[0].source, { kind: 'debian', package: 'linux-source-6.12', tarball: '/usr/src/linux-source-6.12.tar.xz' });
  // Every yaml in kernels/ is a description that loads.
  for (const f of fs.readdirSync(KERNELS_DIR).filter((x) => x.endsWith('.yaml'))) t.notThrows(() => loadKernelSpec(path.join(KERNELS_DIR, f)), f);
});

test('the default pair keeps its cache keys (same inputs, same key function, same entries)', async (t) => {
  // 1. The key functions give what they gave before the descriptions existed (fixed inputs).
  const fixed: CommonInputs = { source: { tarball: '/x.tar.xz', sourcePackage: 'p' }, sourceId: 'linux-source-6.1=6.1.192-2 linux-source-6.1.tar.xz size=1 mtime=2', fragmentPath: '/f', fragmentText: 'CONFIG_X=y\n', compiler: 'gcc 12' };
  t.is(treeKey(fixed), 'e7a06b1bdf4566350828');
  t.is(kernelKey(fixed, '-kph-after', []), 'e9ef7af4ea0fd65f7df3');
  t.is(kernelKey(fixed, '-kph-before', [Buffer.from('patch')]), '03f1d1f66947af28d359');

  // 2. The default pair is the two descriptions, under the names results have always used.
  const pair = kernelSelection().kernels.map((k) => k.spec);
  t.deepEqual(pair.map((s) => s.name), ['after', 'before'], 'no --kernels: the default pair');
  const variantOf = (s: (typeof pair)[number]): KernelVariant => ({ name: s.name, localversion: s.localversion!, patches: s.patches, profile: s.profile });
  const keysOf = (s: (typeof pair)[number]): ReturnType<typeof kernelCacheKeys> => kernelCacheKeys(variantOf(s), s.source.kind === 'debian' ? { fragment: s.fragment, tarball: s.source.tarball, sourcePackage: s.source.package } : {});

  // 3. Entries the user's cache already holds for these inputs sit under the keys computed now.
  const c = await commonInputs(path.join(KERNELS_DIR, 'config', 'kph.config'), { tarball: DEFAULT_TARBALL, sourcePackage: DEFAULT_SOURCE_PACKAGE });
  const dir = path.join(userCache, 'kernel');
  let compared = 0;
  for (const entry of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    const info = path.join(dir, entry, 'build.json');
    if (!fs.existsSync(info)) continue;
    const b = JSON.parse(fs.readFileSync(info, 'utf8')) as { source?: unknown; compiler?: string; localversion?: string; fragment?: { sha256?: string } };
    const v = pair.find((p) => p.localversion === b.localversion);
    if (!v || b.source !== c.sourceId || b.compiler !== c.compiler || typeof b.fragment?.sha256 !== 'string') continue;
    const fragmentNow = (await run('sha256sum', [c.fragmentPath])).stdout.split(' ')[0];
    if (b.fragment.sha256 !== fragmentNow) continue;
    t.is(entry, (await keysOf(v)).kernel, `cached ${v.name} kernel is found under today's key`);
    compared++;
  }
  t.log(compared ? `${compared} cached default kernel(s) matched` : 'no cached default kernels to compare with');
});

test('errors name file:line:col, the key, what was expected and what was found', (t) => {
  t.deepEqual(errorsOf('k', DEBIAN.replace('profile: pre-4b01a967', 'profile: nope')), ['k.yaml:5:10: profile: expected one of "pre-4b01a967", "4b01a967", "4b01a967+followup", found "nope"']);
  t.deepEqual(errorsOf('k', DEBIAN + 'colour: blue\n'), ['k.yaml:6:1: colour: expected no such key (kernels/README.md lists the keys)']);
  t.deepEqual(errorsOf('k', DEBIAN.replace('localversion: -kph-k', 'localversion: 7')), ['k.yaml:4:15: localversion: expected string, found 7']);
  t.deepEqual(errorsOf('k', DEBIAN.replace('profile: pre-4b01a967\n', '')), ['k.yaml:1:1: expected the key "profile", found nothing']);
  t.deepEqual(errorsOf('other', DEBIAN), ['other.yaml:1:7: name: expected the file\'s own name "other" (kernels are selected by file name), found "k"']);
  t.deepEqual(errorsOf('k', DEBIAN.replace('debian: linux-source-6.1', 'debian: linux-source-6.1\n  bzImage: /x')).slice(0, 1), [
    'k.yaml:3:3: source: expected exactly one of debian, git or bzImage, found debian and bzImage',
  ]);
  t.deepEqual(errorsOf('k', DEBIAN + 'patches: [patches/missing.patch]\n').map((e) => e.replace(/ \(.*$/, '')), [
    'k.yaml:6:11: patches[0]: expected an existing patch file, found "patches/missing.patch"',
  ]);
  t.deepEqual(errorsOf('k', 'name: k\nsource: {bzImage: /nonexistent/bzImage}\nlocalversion: -x\nprofile: 4b01a967\n').map((e) => e.replace(/ \(.*$/, '')), [
    'k.yaml:3:1: localversion: expected no localversion for a prebuilt bzImage, found "-x"',
    'k.yaml:2:19: source.bzImage: expected an existing bzImage file, found "/nonexistent/bzImage"',
  ]);
  t.deepEqual(errorsOf('k', 'name: k\nsource: {git: ., ref: HEAD}\nlocalversion: -x\nprofile: 4b01a967\nrelease: 1.2.3\n').map((e) => e.replace(/ \(.*$/, '')), [
    'k.yaml:5:1: release: expected release only with bzImage',
    'k.yaml:2:15: source.git: expected a git working tree, found "."',
  ]);
  t.deepEqual(errorsOf('k', 'name: k\nsource: {git: .}\nlocalversion: -x\nprofile: 4b01a967\n').slice(0, 1), ['k.yaml:2:9: source: expected the key "ref" (the commit-ish to build) with git, found nothing']);
  const [dup] = errorsOf('k', DEBIAN + 'profile: 4b01a967\n');
  t.is(dup, 'k.yaml:6:1: profile: YAML duplicate key: "profile" is already set above');
  const [syntax] = errorsOf('k', 'name: k\nsource: {debian: [\n');
  t.regex(syntax, /^k\.yaml:\d+:\d+: YAML syntax error/);
});

test('--kernels: unknown names and bad files stop the run with exit 2 before anything is built', async (t) => {
  t.throws(() => loadKernelSpecs(['nope']), { message: /^--kernels nope: no such kernel description in .*; known: .*debian-6\.1-after/ });
  t.throws(() => loadKernelSpecs(['debian-6.1-after', 'debian-6.1-after']), { message: /listed twice/ });
  const bad = path.join(scratch, 'bad-kernel.yaml');
  fs.writeFileSync(bad, 'name: bad-kernel\nsource: {debian: linux-source-6.1}\nprofile: 4b01a967\n');
  const r = await runCli(['--kernels', `debian-6.1-after,${bad}`, '--plan']);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /bad-kernel\.yaml:1:1: expected the key "localversion"/);
  const ok = await runCli(['--kernels', 'debian-6.1-after,debian-6.1-before', '--plan', '--case', 'commit-repro']);
  t.is(ok.code, 0, ok.stderr);
});

/** A minimal x86 setup header: "HdrS" at 0x202 and a version string pointer at 0x20e. */
function fakeBzImage(version: string): Buffer {
  const b = Buffer.alloc(0x1000);
  b.write('HdrS', 0x202, 'latin1');
  b.writeUInt16LE(0x400 - 0x200, 0x20e);
  b.write(`${version}\0`, 0x400, 'latin1');
  return b;
}

test('a prebuilt bzImage description resolves its release from the file', async (t) => {
  const dir = fs.mkdtempSync(path.join(scratch, 'prebuilt-'));
  const image = path.join(dir, 'bzImage');
  fs.writeFileSync(image, fakeBzImage('6.1.99-kph-fake (kph@kph) #1 Mon Jan  1 00:00:00 UTC 2024'));
  const file = path.join(dir, 'fake.yaml');
  fs.writeFileSync(file, 'name: fake\nsource:\n  bzImage: bzImage\nprofile: 4b01a967+followup\n');
  const spec = loadKernelSpec(file);
  t.deepEqual(spec.source, { kind: 'bzImage', path: image, release: undefined });
  const [k] = await kernelSelection([file]).build({ logDir: dir });
  t.like(k, { name: 'fake', release: '6.1.99-kph-fake', bzImage: image, cached: true, profile: '4b01a967+followup' });

  // No version string: the release: key says it; a disagreeing release: key is an error.
  const bare = path.join(dir, 'bare');
  fs.writeFileSync(bare, Buffer.alloc(4096));
  t.is(bzImageVersion(fs.readFileSync(bare)), undefined);
  t.is(await prebuiltRelease(bare, '6.1.1-x'), '6.1.1-x');
  await t.throwsAsync(prebuiltRelease(bare), { message: /no version string .*release: key/ });
  await t.throwsAsync(prebuiltRelease(image, '6.1.1-x'), { message: /says it is 6\.1\.99-kph-fake/ });

  // A real cached kernel, when this machine has one: its header agrees with make kernelrelease.
  const cached = path.join(userCache, 'kernel');
  const real = (fs.existsSync(cached) ? fs.readdirSync(cached) : []).map((e) => path.join(cached, e)).find((d) => fs.existsSync(path.join(d, 'bzImage')) && fs.existsSync(path.join(d, 'release')));
  if (real) {
    t.is(await prebuiltRelease(path.join(real, 'bzImage')), fs.readFileSync(path.join(real, 'release'), 'utf8').trim(), real);
    const { stdout } = await run('file', [path.join(real, 'bzImage')]).catch(() => ({ stdout: '' }));
    if (stdout) t.true(stdout.includes(`version ${await prebuiltRelease(path.join(real, 'bzImage'))} `), stdout);
  } else t.log('no cached bzImage here; the fake one stood in');
});

// --- the git builder, on a fake kernel tree whose Makefile imitates Kbuild's targets -------

const FAKE_MAKEFILE = `# A stand-in for Kbuild: O=, tinyconfig, olddefconfig, bzImage, kernelrelease.
O ?= .
rel = 1.0$(shell sed -n 's/^CONFIG_LOCALVERSION="\\(.*\\)"/\\1/p' $(O)/.config)
tinyconfig:
\tmkdir -p $(O) && echo 'CONFIG_TINY=y' > $(O)/.config
olddefconfig:
\t@test -f $(O)/.config
bzImage:
\t@grep -q BREAK net/a.c && { echo 'net/a.c:1: error: broken on purpose'; exit 2; } || true
\t@echo '  CC      net/a.o'
\tmkdir -p $(O)/arch/x86/boot && echo '$(rel) (kph@kph) #1' > $(O)/arch/x86/boot/bzImage && echo map > $(O)/System.map
\tcat net/a.c >> $(O)/arch/x86/boot/bzImage
kernelrelease:
\t@echo $(rel)
`;
const FAKE_MERGE = '#!/bin/sh\n# merge_config.sh -m -O DIR BASE FRAGMENT\nshift; shift; out=$1; shift; base=$1; frag=$2\ncat "$frag" >> "$base"\n';

async function fakeRepo(): Promise<string> {
  const repo = fs.mkdtempSync(path.join(scratch, 'repo-'));
  fs.mkdirSync(path.join(repo, 'net'));
  fs.mkdirSync(path.join(repo, 'scripts', 'kconfig'), { recursive: true });
  fs.writeFileSync(path.join(repo, 'Makefile'), FAKE_MAKEFILE);
  fs.writeFileSync(path.join(repo, 'scripts', 'kconfig', 'merge_config.sh'), FAKE_MERGE, { mode: 0o755 });
  fs.writeFileSync(path.join(repo, 'net', 'a.c'), 'int a = 1;\n');
  const git = (...args: string[]) => run('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args]);
  await git('init', '-q');
  await git('add', '-A');
  await git('commit', '-qm', 'one');
  fs.writeFileSync(path.join(repo, 'net', 'a.c'), 'int a = 2;\n');
  await git('commit', '-qam', 'two');
  fs.writeFileSync(path.join(repo, 'net', 'a.c'), 'int a = 3; BREAK\n');
  await git('commit', '-qam', 'three: does not compile');
  return repo;
}

test('git kernels: a worktree in the cache, make O=, one cache entry per commit, build failures named', async (t) => {
  const repo = await fakeRepo();
  const fragment = path.join(scratch, 'fake.config');
  fs.writeFileSync(fragment, 'CONFIG_TINY=y\n');
  const logDir = path.join(scratch, 'git-logs');
  const one = await resolveGit(repo, 'HEAD~2');
  t.is(one.subject, 'one');
  await t.throwsAsync(resolveGit(repo, 'no-such-ref'), { message: /does not name a commit/ });
  await t.throwsAsync(resolveGit(scratch, 'HEAD'), { message: /is not inside a git working tree/ });

  const base = { name: 'g', profile: '4b01a967', fragment, logDir };
  const k1 = await buildGitKernel({ ...base, localversion: '-kph-one', source: one });
  t.is(k1.release, '1.0-kph-one');
  t.false(k1.cached);
  t.regex(fs.readFileSync(k1.bzImage, 'utf8'), /int a = 1;/);
  t.true(fs.existsSync(path.join(k1.buildDir, 'obj', '.config')), 'built out of tree');
  t.false(fs.existsSync(path.join(k1.buildDir, 'src', '.config')), 'the worktree stays clean');
  t.true(fs.existsSync(path.join(k1.buildDir, 'src', '.git')), 'a git worktree');

  const again = await buildGitKernel({ ...base, localversion: '-kph-one', source: one });
  t.true(again.cached);
  t.is(again.bzImage, k1.bzImage);

  const two = await resolveGit(repo, 'HEAD~1');
  const k2 = await buildGitKernel({ ...base, localversion: '-kph-two', source: two });
  t.is(k2.buildDir, k1.buildDir, 'one build directory per repository');
  t.regex(fs.readFileSync(k2.bzImage, 'utf8'), /int a = 2;/);

  // Uncommitted changes are part of the key and of the build.
  const diff = 'diff --git a/net/a.c b/net/a.c\n--- a/net/a.c\n+++ b/net/a.c\n@@ -1 +1 @@\n-int a = 2;\n+int a = 22;\n';
  const k2dirty = await buildGitKernel({ ...base, localversion: '-kph-two', source: two, localDiff: diff });
  t.not(k2dirty.bzImage, k2.bzImage);
  t.regex(fs.readFileSync(k2dirty.bzImage, 'utf8'), /int a = 22;/);
  t.not(gitKernelKey({ commit: two.commit, fragmentText: 'x', compiler: 'c', localversion: '-a', patches: [] }),
    gitKernelKey({ commit: one.commit, fragmentText: 'x', compiler: 'c', localversion: '-a', patches: [] }), 'the commit is in the key');

  const three = await resolveGit(repo, 'HEAD');
  const err = await t.throwsAsync(buildGitKernel({ ...base, name: 'broken', localversion: '-kph-three', source: three }), { instanceOf: KernelBuildError });
  t.regex(err!.tail, /broken on purpose/);
  t.is(err!.variant, 'broken');
  // The tree is usable afterwards: the earlier commit builds again (a different localversion: not cached).
  const k1b = await buildGitKernel({ ...base, localversion: '-kph-one-b', source: one });
  t.regex(fs.readFileSync(k1b.bzImage, 'utf8'), /int a = 1;/);
  t.is(JSON.parse(fs.readFileSync(path.join(k1b.buildDir, 'state.json'), 'utf8')).building, false);

  // The same through a description and --kernels' builder; a ref that does not resolve is caught on load.
  const file = path.join(scratch, 'fake-git.yaml');
  fs.writeFileSync(file, `name: fake-git\nsource:\n  git: ${repo}\n  ref: HEAD~1\nlocalversion: -kph-two\nfragment: ${fragment}\nprofile: 4b01a967\n`);
  const [viaSpec] = await kernelSelection([file]).build({ logDir });
  t.like(viaSpec, { name: 'fake-git', release: '1.0-kph-two', bzImage: k2.bzImage, cached: true });
  fs.writeFileSync(file, `name: fake-git\nsource:\n  git: ${repo}\n  ref: v9.9\nlocalversion: -x\nprofile: 4b01a967\n`);
  t.throws(() => loadKernelSpec(file), { message: /fake-git\.yaml:4:8: source\.ref: expected a commit-ish of .*, found "v9\.9"/ });
});
