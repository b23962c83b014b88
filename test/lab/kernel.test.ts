// Kernel side of the default pair: the revert patch, the Kconfig fragment and its verifier,
// cache keys, and the build tree's repair after an interrupted build. No kernel is compiled
// here (the end-to-end test builds and boots); fake source tarballs stand in where a tree is needed.
import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildKernels, kernelCacheKeys, KernelBuildError, type KernelVariant } from '../../harness/src/kernel/build.js';
import { assertConfig, KconfigMismatchError, parseDotConfig, parseFragment, verifyConfig } from '../../harness/src/kernel/config.js';
import { DEFAULT_FRAGMENT, DEFAULT_TARBALL } from '../../harness/src/kernel/keys.js';
import { loadKernelSpecs } from '../../harness/src/kernel/spec.js';
import { runLogged as runGroup } from '../../harness/src/util/exec.js';
import { applyPatches, markBuilding, withBuildTree, type TreeContext } from '../../harness/src/kernel/tree.js';

const run = promisify(execFile);
const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'kph-kernel-test-'));
// Everything these tests cache goes to a private cache, never the user's.
process.env.KPH_CACHE_DIR = path.join(scratch, 'cache');
test.after.always(async () => {
  await fs.rm(scratch, { recursive: true, force: true });
});

const revertPatch = loadKernelSpecs(['debian-6.1-before'])[0].patches[0];

// One fresh extraction of the real source, shared by the tests that need it.
let extraction: Promise<string> | undefined;
function extractedSource(): Promise<string> {
  extraction ??= (async () => {
    const dir = path.join(scratch, 'linux');
    await fs.mkdir(dir);
    await run('tar', ['-xf', DEFAULT_TARBALL, '-C', dir, '--no-same-owner'], { maxBuffer: 1 << 26 });
    const [top] = await fs.readdir(dir);
    return path.join(dir, top);
  })();
  return extraction;
}

async function grepTree(root: string, word: string): Promise<string[]> {
  try {
    const { stdout } = await run('grep', ['-rl', '--', word, '.'], { cwd: root, maxBuffer: 1 << 26 });
    return stdout.split('\n').filter(Boolean).sort();
  } catch (e) {
    if ((e as { code?: number }).code === 1) return []; // grep: no match
    throw e;
  }
}

/** Body of a C function, from its name's line to the first line that is just "}". */
function functionBody(source: string, name: string): string {
  const start = source.indexOf(`\n${name}(`);
  if (start < 0) throw new Error(`${name} not found`);
  const end = source.indexOf('\n}\n', start);
  return source.slice(start, end + 3);
}

test('the revert patch has a header saying what it reverts and why', async (t) => {
  const text = await fs.readFile(revertPatch, 'utf8');
  const header = text.slice(0, text.search(/^(---|diff) /m));
  t.true(header.length > 200, 'header before the first ---/diff line');
  t.regex(header, /4b01a967/);
  t.regex(header, /ip_autobind_reuse/);
  t.regex(header, /Forbid to bind more than one sockets haveing\s+SO_REUSEADDR and SO_REUSEPORT per EUID/);
  t.regex(header, /unreachable/);
  t.notRegex(header, /^(\+\+\+|\*\*\*|Index:|@@) /m, 'nothing in the header that patch could take for a diff');
});

test('the revert patch applies to a fresh extraction and removes the sysctl, its field and the relaxed scan', async (t) => {
  const src = await extractedSource();
  const before = await grepTree(src, 'sysctl_ip_autobind_reuse');
  t.true(before.length >= 3, `the shipped 6.1 source uses sysctl_ip_autobind_reuse (${before.join(', ')})`);

  const dry = await run('patch', ['-p1', '--dry-run', '--forward', '--batch', '-i', revertPatch], { cwd: src });
  t.notRegex(dry.stdout, /offset|fuzz|FAILED|reject/i, `applies exactly:\n${dry.stdout}`);
  await run('patch', ['-p1', '--forward', '--batch', '-i', revertPatch], { cwd: src });

  t.deepEqual(await grepTree(src, 'sysctl_ip_autobind_reuse'), [], 'no user of the netns field is left');
  // Only the kernel's own selftest still names the sysctl (it is the independent check).
  t.deepEqual(await grepTree(src, 'ip_autobind_reuse'), ['./tools/testing/selftests/net/reuseaddr_ports_exhausted.sh']);

  const csk = await fs.readFile(path.join(src, 'net/ipv4/inet_connection_sock.c'), 'utf8');
  const body = functionBody(csk, 'inet_csk_find_open_port');
  t.notRegex(body, /\brelax\b/, 'no relax variable in inet_csk_find_open_port');
  t.notRegex(body, /ports_exhausted/, 'no ports_exhausted label');
  t.regex(body, /inet_csk_bind_conflict\(sk, tb, tb2,\s+false, false\)/, 'the scan passes relax=false');
  t.regex(body, /inet_bhash2_addr_any_conflict\(sk, port, l3mdev, false, false\)/);
  // The follow-up commit's check stays in inet_bind_conflict().
  t.regex(functionBody(csk, 'static bool inet_bind_conflict'), /uid_eq\(sk_uid, sock_i_uid\(sk2\)\)/);
  const sysctl = await fs.readFile(path.join(src, 'net/ipv4/sysctl_net_ipv4.c'), 'utf8');
  t.notRegex(sysctl, /ip_autobind_reuse/);
  t.regex(sysctl, /"ip_nonlocal_bind"/, 'the neighbouring sysctls are untouched');
});

test('the fragment sets every option the guest needs, all built in', async (t) => {
  const entries = parseFragment(await fs.readFile(DEFAULT_FRAGMENT, 'utf8'), DEFAULT_FRAGMENT);
  const values = new Map(entries.map((e) => [e.name, e.value]));
  const required = `64BIT PRINTK PRINTK_TIME BUG TTY SERIAL_8250 SERIAL_8250_CONSOLE BLK_DEV_INITRD RD_GZIP BINFMT_ELF
    BINFMT_SCRIPT DEVTMPFS DEVTMPFS_MOUNT PROC_FS PROC_SYSCTL SYSFS TMPFS SYSCTL MULTIUSER FUTEX EPOLL SIGNALFD TIMERFD
    EVENTFD AIO FILE_LOCKING SHMEM UNIX98_PTYS INOTIFY_USER PCI VIRTIO VIRTIO_PCI VIRTIO_NET VIRTIO_BLK EXT4_FS HW_RANDOM
    HW_RANDOM_VIRTIO NET INET IPV6 UNIX PACKET NAMESPACES NET_NS UTS_NS VETH KALLSYMS POSIX_TIMERS`.split(/\s+/);
  for (const name of required) t.is(values.get(`CONFIG_${name}`), 'y', `CONFIG_${name}=y`);
  t.is(values.get('CONFIG_MODULES'), 'n');
  t.is(values.get('CONFIG_LOCALVERSION_AUTO'), 'n');
  t.false([...values.values()].includes('m'), 'no modules');
});

test('the fragment parser accepts trailing comments and rejects garbage', (t) => {
  const entries = parseFragment(
    [
      '# a comment line',
      'CONFIG_A=y            # why A',
      '# CONFIG_B is not set # why not B',
      'CONFIG_C="a b # not a comment"  # why C',
      'CONFIG_D=0x1F',
      '',
    ].join('\n'),
  );
  t.deepEqual(
    entries.map((e) => [e.name, e.value, e.line]),
    [
      ['CONFIG_A', 'y', 2],
      ['CONFIG_B', 'n', 3],
      ['CONFIG_C', '"a b # not a comment"', 4],
      ['CONFIG_D', '0x1F', 5],
    ],
  );
  t.throws(() => parseFragment('CONFIG_A=y\nVIRTIO=y\n', 'frag.config'), { message: /frag\.config:2: not a Kconfig line/ });
  t.throws(() => parseFragment('CONFIG_A=y\n# CONFIG_A is not set\n', 'frag.config'), { message: /contradicts line 1/ });
});

test('the verifier names a missing option, its wanted and actual value, and the fragment', (t) => {
  const fragment = parseFragment(
    'CONFIG_64BIT=y\nCONFIG_VIRTIO_NET=y # NIC\n# CONFIG_MODULES is not set\nCONFIG_HZ=250\nCONFIG_LOCALVERSION="-kph-x"\n# CONFIG_SLOB is not set\n',
  );
  const dotConfig = [
    '#',
    '# Automatically generated file; DO NOT EDIT.',
    'CONFIG_64BIT=y',
    '# CONFIG_MODULES is not set',
    'CONFIG_HZ=100',
    'CONFIG_LOCALVERSION="-kph-x"',
    'CONFIG_SLOB=y',
    '',
  ].join('\n');
  const mismatches = verifyConfig(fragment, parseDotConfig(dotConfig));
  t.deepEqual(
    mismatches.map((m) => [m.name, m.wanted, m.actual]),
    [
      ['CONFIG_VIRTIO_NET', 'y', undefined],
      ['CONFIG_HZ', '250', '100'],
      ['CONFIG_SLOB', 'n', 'y'],
    ],
  );
  const err = t.throws(() => assertConfig('/somewhere/kph.config', fragment, dotConfig), { instanceOf: KconfigMismatchError });
  t.regex(err!.message, /\/somewhere\/kph\.config/);
  t.regex(err!.message, /CONFIG_VIRTIO_NET: wanted y \(line 2\), actual absent/);
  t.regex(err!.message, /CONFIG_HZ: wanted 250 \(line 4\), actual 100/);
  t.notRegex(err!.message, /CONFIG_64BIT|CONFIG_MODULES|CONFIG_LOCALVERSION/, 'options that match are not reported');
  t.notThrows(() => assertConfig('f', parseFragment('CONFIG_64BIT=y\n# CONFIG_NOT_THERE is not set\n'), dotConfig), 'unset counts as "is not set"');
});

test('cache keys follow the patches, the fragment and the localversion', async (t) => {
  const dir = path.join(scratch, 'keys');
  await fs.mkdir(dir);
  const fragment = path.join(dir, 'frag.config');
  const patch = path.join(dir, 'a.patch');
  await fs.copyFile(DEFAULT_FRAGMENT, fragment);
  await fs.copyFile(revertPatch, patch);
  const v: KernelVariant = { name: 'before', localversion: '-kph-before', patches: [patch], profile: 'pre-4b01a967' };

  const k0 = await kernelCacheKeys(v, { fragment });
  t.deepEqual(await kernelCacheKeys(v, { fragment }), k0, 'same inputs, same keys');
  t.deepEqual(await kernelCacheKeys({ ...v, name: 'other', profile: 'x' }, { fragment }), k0, 'name and profile are not inputs');

  await fs.appendFile(patch, '\n');
  const k1 = await kernelCacheKeys(v, { fragment });
  t.not(k1.kernel, k0.kernel, 'patch content changes the kernel key');
  t.is(k1.tree, k0.tree, 'patches do not change the build tree');

  const k2 = await kernelCacheKeys({ ...v, localversion: '-kph-other' }, { fragment });
  t.not(k2.kernel, k1.kernel, 'localversion changes the kernel key');

  const k3 = await kernelCacheKeys({ ...v, patches: [] }, { fragment });
  t.not(k3.kernel, k1.kernel, 'no patch differs from a patch');

  await fs.appendFile(fragment, 'CONFIG_VETH=y\n');
  const k4 = await kernelCacheKeys(v, { fragment });
  t.not(k4.kernel, k1.kernel, 'fragment content changes the kernel key');
  t.not(k4.tree, k1.tree, 'fragment content changes the build tree');
});

// --- build tree repair, on a fake source tarball -------------------------------------------

async function fakeTarball(name: string, makefile: string): Promise<string> {
  const root = path.join(scratch, name);
  const top = path.join(root, 'linux-fake');
  await fs.mkdir(path.join(top, 'net'), { recursive: true });
  await fs.writeFile(path.join(top, 'Makefile'), makefile);
  await fs.writeFile(path.join(top, 'net', 'a.c'), 'int a = 1;\nint b = 2;\nint c = 3;\n');
  const tarball = path.join(scratch, `${name}.tar.gz`);
  await run('tar', ['-czf', tarball, '-C', root, 'linux-fake']);
  return tarball;
}

const fakePatch = Buffer.from(
  ['header text', '--- a/net/a.c', '+++ b/net/a.c', '@@ -1,3 +1,3 @@', ' int a = 1;', '-int b = 2;', '+int b = 42;', ' int c = 3;',
    '--- /dev/null', '+++ b/net/new.c', '@@ -0,0 +1 @@', '+int n;', ''].join('\n'),
);

test('an interrupted build is repaired by the next user of the tree', async (t) => {
  const tarball = await fakeTarball('fake-repair', 'all:\n\ttrue\n');
  const log = path.join(scratch, 'repair.log');
  const messages: string[] = [];
  const ctx: TreeContext = { log, progress: (m) => messages.push(m) };
  let src = '';
  // First user: patches the tree, starts "make", then dies without cleaning up.
  await t.throwsAsync(
    withBuildTree('fake-repair-key', tarball, ctx, async (tree) => {
      src = tree.src;
      await applyPatches(tree, [{ origin: '/x/fake.patch', content: fakePatch }], ctx);
      await markBuilding(tree, true);
      await new Promise((r) => setTimeout(r, 20));
      await fs.writeFile(path.join(tree.src, 'net', 'a.o'), 'half-written object');
      throw new Error('simulated SIGKILL');
    }),
    { message: 'simulated SIGKILL' },
  );
  t.regex(await fs.readFile(path.join(src, 'net/a.c'), 'utf8'), /b = 42/, 'left patched');

  // Second user: gets a pristine tree.
  await withBuildTree('fake-repair-key', tarball, ctx, async (tree) => {
    t.is(tree.src, src);
    t.is(await fs.readFile(path.join(tree.src, 'net/a.c'), 'utf8'), 'int a = 1;\nint b = 2;\nint c = 3;\n');
    await t.throwsAsync(fs.access(path.join(tree.src, 'net/new.c')), undefined, 'file created by the patch is gone');
    await t.throwsAsync(fs.access(path.join(tree.src, 'net/a.o')), undefined, 'output of the killed make is gone');
    t.deepEqual(tree.state, { version: 1, applied: [], touched: [], building: false });
  });
  t.true(messages.some((m) => /repairing/.test(m)));

  // A tree whose state cannot be trusted is thrown away and extracted again.
  await fs.writeFile(path.join(path.dirname(src), 'state.json'), 'garbage');
  await fs.writeFile(path.join(src, 'junk'), 'x');
  await withBuildTree('fake-repair-key', tarball, ctx, async (tree) => {
    await t.throwsAsync(fs.access(path.join(tree.src, 'junk')));
    t.deepEqual(tree.state.applied, []);
  });
});

test('a failing build throws KernelBuildError with the variant, the log and its last lines', async (t) => {
  const tarball = await fakeTarball('fake-fail', 'tinyconfig:\n\t@echo fake-kernel-cannot-configure; exit 3\n');
  const logDir = path.join(scratch, 'logs-fail');
  const variant: KernelVariant = { name: 'broken', localversion: '-kph-broken', patches: [], profile: 'x' };
  const err = await t.throwsAsync(buildKernels({ variants: [variant], logDir, tarball, sourcePackage: 'kph-no-such-package' }), {
    instanceOf: KernelBuildError,
  });
  t.is(err!.variant, 'broken');
  t.is(err!.log, path.join(logDir, 'kernel-broken.log'));
  t.regex(err!.tail, /fake-kernel-cannot-configure/);
  t.regex(err!.message, /kernel broken: /);

  // A patch that does not apply fails before anything is built, and leaves the tree pristine.
  const bad = path.join(scratch, 'bad.patch');
  await fs.writeFile(bad, fakePatch.toString().replace('-int b = 2;', '-int b = 7;'));
  const err2 = await t.throwsAsync(
    buildKernels({ variants: [{ ...variant, name: 'badpatch', patches: [bad] }], logDir, tarball, sourcePackage: 'kph-no-such-package' }),
    { instanceOf: KernelBuildError },
  );
  t.regex(err2!.message, /bad\.patch does not apply cleanly/);
});

test('aborting a build kills the whole make process group before returning', async (t) => {
  const log = path.join(scratch, 'group.log');
  const marker = `sleep 30.${process.pid}`; // unique in ps
  const ac = new AbortController();
  setTimeout(() => ac.abort(new Error('stop')), 300);
  const t0 = Date.now();
  // Stands in for make -j: a parent with children that would outlive it.
  const script = `${marker} & ${marker} & echo started; ${marker}`;
  await t.throwsAsync(runGroup('sh', ['-c', script], { cwd: scratch, env: process.env, log, signal: ac.signal }), { message: 'stop' });
  t.true(Date.now() - t0 < 5_000, 'returns promptly');
  const { stdout } = await run('ps', ['-eo', 'pgid,args']);
  t.false(stdout.includes(marker), 'the command and the children it started are gone');
  t.regex(await fs.readFile(log, 'utf8'), /started/);
});
