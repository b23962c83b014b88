// Kernels describe themselves (issue 11): each source kind gives its own facts and its own
// tree. A `--kernels debian-6.12` run through the real CLI names linux-source-6.12 and its
// version in KCIDB and runs the selftest built from the 6.12 tarball; the facts of a selection
// come from its descriptions; a selftest builds from a git commit as well as from a tarball.
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { SOURCE_KINDS } from '../../harness/src/kernel/kinds.js';
import { kernelSelection } from '../../harness/src/kernel/select.js';
import { kernelSpecSchema } from '../../harness/src/kernel/spec.js';
import { selftestsPerKernel } from '../../harness/src/selftests/per-kernel.js';
import { projectRoot } from '../../harness/src/util/paths.js';
import { runCli, tempResults } from '../helpers/cli.js';
import { command, file, needs } from '../helpers/needs.js';

const run = promisify(execFile);
const TARBALL_612 = '/usr/src/linux-source-6.12.tar.xz';
const dpkgVersion = (pkg: string): string => execFileSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8' }).trim();
/** "linux-source-6.1" not followed by another digit (linux-source-6.12 is not it). */
const SIX_ONE = /linux-source-6\.1(?!\d)/;

test('one kind per source: debian, git, bzImage, each named by the key that selects it', (t) => {
  t.deepEqual(SOURCE_KINDS.map((k) => [k.kind, Object.keys(k.keys)[0], k.built]), [['debian', 'debian', true], ['git', 'git', true], ['bzImage', 'bzImage', false]]);
  // The description schema's source keys are the kinds' own (plus patches): a new kind needs no edit of spec.ts.
  t.deepEqual(Object.keys(kernelSpecSchema.properties.source.properties).sort(), [...SOURCE_KINDS.flatMap((k) => Object.keys(k.keys)), 'patches'].sort());
  t.true('release' in kernelSpecSchema.properties, 'a kind\'s top-level key (bzImage release) is in the schema');
});

needs(file(TARBALL_612, 'linux-source-6.12')).test('the facts of a selection are each description\'s own: linux-source-6.12, its version, no patches', async (t) => {
  const facts = await kernelSelection(['debian-6.12']).facts();
  t.deepEqual(Object.keys(facts), ['debian-6.12']);
  t.like(facts['debian-6.12'], { kind: 'debian', package: 'linux-source-6.12', version: dpkgVersion('linux-source-6.12'), tarball: TARBALL_612, patches: [], patchsetHash: '', localversion: '-kph-6.12' });
  t.regex((facts['debian-6.12'] as { compiler?: string }).compiler ?? '', /gcc/);
  // The default pair is the two 6.1 descriptions: the revert patch with its sha256.
  const pair = await kernelSelection().facts();
  const patch = fs.readFileSync(path.join(projectRoot, 'kernels/patches/6.1/revert-4b01a967.patch'));
  const sha = execFileSync('sha256sum', { input: patch, encoding: 'utf8' }).split(' ')[0];
  t.like(pair.before, { kind: 'debian', package: 'linux-source-6.1', patches: ['revert-4b01a967.patch'], patchHashes: [sha], localversion: '-kph-before' });
  t.like(pair.after, { kind: 'debian', package: 'linux-source-6.1', patches: [], localversion: '-kph-after' });
});

test('a selftest builds from a git commit, once per distinct tree, and says where it came from', async (t) => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-st-git-'));
  const prev = process.env.KPH_CACHE_DIR;
  process.env.KPH_CACHE_DIR = path.join(scratch, 'cache');
  t.teardown(() => { process.env.KPH_CACHE_DIR = prev; fs.rmSync(scratch, { recursive: true, force: true }); });
  const repo = path.join(scratch, 'linux');
  const st = path.join(repo, 'tools/testing/selftests');
  fs.mkdirSync(path.join(st, 'net'), { recursive: true });
  fs.writeFileSync(path.join(st, 'kselftest.h'), '#define KSFT_PASS 0\n');
  fs.writeFileSync(path.join(st, 'net/tiny.c'), '#include "../kselftest.h"\nint main(void) { return KSFT_PASS; }\n');
  fs.writeFileSync(path.join(st, 'net/tiny.sh'), 'sysctl -w net.ipv4.ip_autobind_reuse=1\n./tiny\n');
  const git = (...args: string[]): Promise<unknown> => run('git', ['-C', repo, '-c', 'user.email=k@p', '-c', 'user.name=kph', ...args]);
  await run('git', ['init', '-q', repo]);
  await git('add', '.');
  await git('commit', '-qm', 'one');
  const one = (await run('git', ['-C', repo, 'rev-parse', 'HEAD'])).stdout.trim();
  fs.writeFileSync(path.join(st, 'net/tiny.sh'), 'sysctl -w net.ipv4.ip_autobind_reuse=0\n./tiny\n');
  await git('commit', '-qam', 'two');
  const two = (await run('git', ['-C', repo, 'rev-parse', 'HEAD'])).stdout.trim();

  const kernels = [{ name: 'a', tree: { git: repo, commit: one } }, { name: 'b', tree: { git: repo, commit: one } }, { name: 'c', tree: { git: repo, commit: two } }, { name: 'prebuilt' }];
  const built = await selftestsPerKernel(kernels, ['net/tiny'], scratch);
  t.deepEqual([...built.keys()], ['a', 'b', 'c'], 'a prebuilt kernel has no tree: no selftest');
  t.is(built.get('a'), built.get('b'), 'one build for one tree');
  t.is(built.get('a')![0].from, `${repo} at ${one}`);
  t.is(built.get('c')![0].from, `${repo} at ${two}`);
  // Each commit's own runner script: its sysctl value.
  t.deepEqual(built.get('a')![0].sysctls, [{ key: 'net.ipv4.ip_autobind_reuse', value: '1' }]);
  t.deepEqual(built.get('c')![0].sysctls, [{ key: 'net.ipv4.ip_autobind_reuse', value: '0' }]);
  t.is((await run(built.get('c')![0].binary).then(() => 0, (e: { code: number }) => e.code)), 0, 'a static binary that runs');
});

interface Checkout { tree_name?: string; comment?: string; misc?: { source_version?: string; source_package?: string } }
interface Selftest { name: string; from?: string; verdict: string; tests: Array<{ verdict: string }> }

needs(file(TARBALL_612, 'linux-source-6.12'), command('qemu-system-x86_64', 'qemu-system-x86')).serial('--kernels debian-6.12: the KCIDB checkout names linux-source-6.12 and its version; the selftest is built from the 6.12 tree', async (t) => {
  const version = dpkgVersion('linux-source-6.12');
  // The selftest's case, on 4 cells (one family, range and sysctl value, euid 0, no SO_REUSEPORT).
  const filters = ['reuse=1', 'range=one-port', 'fam=inet', 's0.euid=0', 's1.euid=0', 's0.reuseport=false', 's1.reuseport=false'].flatMap((f) => ['--filter', f]);
  const r = await runCli(['--kernels', 'debian-6.12', '--case', 'selftest-mirror', ...filters, '--no-ts', '--results', tempResults()]);
  t.is(r.code, 0, r.stderr.slice(-3000));
  const dir = r.runDir!;
  const read = (f: string): string => fs.readFileSync(path.join(dir, f), 'utf8');

  const kcidb = JSON.parse(read('kcidb.json')) as { checkouts: Checkout[]; builds: Array<{ compiler?: string; misc?: { localversion?: string } }> };
  t.deepEqual(kcidb.checkouts.map((c) => [c.tree_name, c.misc?.source_package, c.misc?.source_version]), [['linux-source-6.12', 'linux-source-6.12', version]]);
  t.is(kcidb.checkouts[0].comment, `Debian linux-source-6.12 ${version} as shipped (kernel "debian-6.12", profile 4b01a967+followup)`);
  t.regex(kcidb.builds[0].compiler ?? '', /gcc/);
  t.is(kcidb.builds[0].misc?.localversion, '-kph-6.12');
  t.notRegex(read('kcidb.json'), SIX_ONE, 'nothing of the 6.1 source in a 6.12 run');

  const res = JSON.parse(read('results.json')) as { kernels: Array<{ name: string; unameR?: string; selftests?: Selftest[] }>; facts: { sources: Record<string, { package?: string; version?: string }> } };
  t.like(res.facts.sources['debian-6.12'], { package: 'linux-source-6.12', version });
  const [k] = res.kernels;
  t.regex(k.unameR ?? '', /^6\.12\.\d+-kph-6\.12$/);
  const [st] = k.selftests ?? [];
  t.is(st?.name, 'net/reuseaddr_ports_exhausted');
  t.is(st?.from, `linux-source-6.12=${version} (${TARBALL_612})`, 'built from the 6.12 tarball');
  // 6.12 has 4b01a967 and its follow-up: the kernel's own selftest passes on it.
  t.is(st?.verdict, 'pass', JSON.stringify(st));
  t.true((st?.tests.length ?? 0) >= 3);
  t.notRegex(read('run.json'), SIX_ONE, 'run.json\'s facts name only 6.12');
  t.regex(read('summary.md'), new RegExp(`^- \\*\\*debian-6\\.12\\*\\*: .*, Debian linux-source-6\\.12 ${version.replace(/[.~+]/g, '\\$&')}, `, 'm'), 'summary.md says where the kernel came from');
});
