// The guest image: what the initramfs and the node disk hold, the host key, the kernel
// command-line key hand-off, and the content cache. No VM is booted here (see e2e.test.ts).
import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import ssh2 from 'ssh2';
import { type GuestImage, INIT_SCRIPT, authorizedKeyCmdline, buildGuestImage, sharedLibraries } from '../../harness/src/image/build.js';
import { authorizedKeyFromCmdline, parseOpenSshPublicKey } from '../../harness/src/image/cmdline.js';
import { newcArchive } from '../../harness/src/image/cpio.js';

const execFileP = promisify(execFile);

// A private cache, so that the first build below really builds and the second really hits.
const cacheDir = await fs.mkdtemp(path.join(os.tmpdir(), 'kph-image-test-'));
process.env.KPH_CACHE_DIR = cacheDir;
const logDir = path.join(cacheDir, 'logs');
const first: Promise<GuestImage> = buildGuestImage({ logDir });

test.after.always(async () => {
  await first.catch(() => undefined);
  await fs.rm(cacheDir, { recursive: true, force: true });
});

async function sh(script: string, args: string[] = []): Promise<string> {
  const { stdout } = await execFileP('/bin/sh', ['-c', script, 'sh', ...args], { maxBuffer: 64 << 20, encoding: 'utf8' });
  return stdout;
}

/** `cpio -tv --numeric-uid-gid` of the initramfs: path -> listing line. */
async function listing(img: GuestImage): Promise<Map<string, string>> {
  const out = await sh('cpio -tv --numeric-uid-gid --quiet < "$1"', [img.initramfs]);
  const m = new Map<string, string>();
  for (const line of out.split('\n').filter(Boolean)) {
    // mode links uid gid (size | major, minor) month day (year | time) name [-> target]
    const f = /^\S+\s+\d+\s+\d+\s+\d+\s+(?:\d+,\s*\d+|\d+)\s+\w+\s+\d+\s+\S+\s+(.*)$/.exec(line);
    if (!f) throw new Error(`unexpected cpio -tv line: ${line}`);
    m.set(f[1]!.split(' -> ')[0]!, line);
  }
  return m;
}

test('the first build is a fresh build into the given cache', async (t) => {
  const img = await first;
  t.false(img.cached);
  t.true(img.initramfs.startsWith(cacheDir) && img.nodeDisk.startsWith(cacheDir));
  // Uncompressed (the kernel unpacks it without inflating): busybox, dropbear and its libraries, no Node.
  t.true(img.sizes.initramfsBytes > 2_000_000 && img.sizes.initramfsBytes < 9_000_000, `initramfs is ${img.sizes.initramfsBytes} bytes`);
  t.true(img.sizes.nodeDiskBytes > 50_000_000, `node disk is ${img.sizes.nodeDiskBytes} bytes`);
});

test('the initramfs lists /init, /bin/sh, dropbear, its libraries and the host key, all root-owned', async (t) => {
  const img = await first;
  const files = await listing(img);
  const required = ['init', 'bin/sh', 'bin/busybox', 'sbin/ip', 'usr/sbin/dropbear', 'etc/dropbear/dropbear_ed25519_host_key', 'etc/passwd', 'etc/group', 'dev/console', 'usr/bin/node'];
  const libs = await sharedLibraries('/usr/sbin/dropbear');
  t.true(libs.some((l) => l.path.includes('libc.so')), 'ldd found no libc for dropbear');
  for (const lib of libs) required.push(lib.path.replace(/^\//, ''));
  for (const p of required) t.true(files.has(p), `/${p} missing from the initramfs`);
  for (const [p, line] of files) {
    if (p.startsWith('home/u100')) continue;
    t.regex(line, /^\S+\s+\d+\s+0\s+0\s/, `/${p} is not owned by 0:0: ${line}`);
  }
  t.regex(files.get('init')!, /^-rwx/);
  t.regex(files.get('bin/sh')!, /^l.* -> \/bin\/busybox$/);
  t.regex(files.get('etc/dropbear/dropbear_ed25519_host_key')!, /^-rw-------/);
  t.regex(files.get('dev/console')!, /^c/);
  // Node itself stays out of the initramfs: only a link to the disk.
  t.regex(files.get('usr/bin/node')!, /^l.* -> \/opt\/node\/bin\/node$/);
  const initInArchive = await sh('cpio -i --quiet --to-stdout init < "$1"', [img.initramfs]);
  t.is(initInArchive, await fs.readFile(INIT_SCRIPT, 'utf8'));
});

test('every command guest/image/init runs is in the initramfs on its PATH', async (t) => {
  const img = await first;
  const files = await listing(img);
  // The commands the init script runs outside shell builtins (Debian's busybox has no "nice").
  const commands = ['mount', 'mkdir', 'ln', 'ip', 'chmod', 'rm', 'sleep', 'kill', 'renice', 'poweroff', 'reboot', 'sh', 'dropbear', 'node'];
  const text = await fs.readFile(INIT_SCRIPT, 'utf8');
  for (const c of commands) {
    t.regex(text, new RegExp(`\\b${c}\\b`), `${c} is no longer used by init: update this list`);
    const found = ['usr/sbin', 'usr/bin', 'sbin', 'bin'].some((d) => files.has(`${d}/${c}`));
    t.true(found, `init runs ${c}, which the initramfs lacks`);
  }
});

test('/etc/passwd has root (/root, /bin/sh) and users 1000 and 1001', async (t) => {
  const img = await first;
  const passwd = await sh('cpio -i --quiet --to-stdout etc/passwd < "$1"', [img.initramfs]);
  t.regex(passwd, /^root:x:0:0:[^:]*:\/root:\/bin\/sh$/m);
  t.regex(passwd, /^\w+:x:1000:1000:/m);
  t.regex(passwd, /^\w+:x:1001:1001:/m);
});

test('the node disk is ext2 and holds the node binary and the libraries the initramfs links to', async (t) => {
  const img = await first;
  const { stdout: fsType } = await execFileP('blkid', ['-o', 'value', '-s', 'TYPE', img.nodeDisk]);
  t.is(fsType.trim(), 'ext2');
  const { stdout: stat } = await execFileP('debugfs', ['-R', 'stat /bin/node', img.nodeDisk]);
  const size = Number(/Size: (\d+)/.exec(stat)?.[1]);
  t.is(size, (await fs.stat(await fs.realpath(process.execPath))).size);
  const files = await listing(img);
  const { stdout: libDir } = await execFileP('debugfs', ['-R', 'ls -p /lib', img.nodeDisk]);
  for (const [p, line] of files) {
    const m = / -> \/opt\/node\/lib\/(\S+)$/.exec(line);
    if (m) t.true(libDir.includes(`/${m[1]}/`), `/${p} links to ${m[1]}, which the node disk lacks`);
  }
});

test('the host key parses as an ssh-ed25519 public key and matches the private key in the initramfs', async (t) => {
  const img = await first;
  t.regex(img.hostKey, /^ssh-ed25519 AAAA[A-Za-z0-9+/=]+$/);
  const parsed = ssh2.utils.parseKey(img.hostKey);
  t.false(parsed instanceof Error, String(parsed));
  const key = Array.isArray(parsed) ? parsed[0]! : (parsed as ssh2.ParsedKey);
  t.is(key.type, 'ssh-ed25519');
  t.false(key.isPrivateKey());
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'kph-hostkey-'));
  try {
    const keyFile = path.join(tmp, 'k');
    await sh('cpio -i --quiet --to-stdout etc/dropbear/dropbear_ed25519_host_key < "$1" > "$2"', [img.initramfs, keyFile]);
    const { stdout } = await execFileP('dropbearkey', ['-y', '-f', keyFile]);
    const line = stdout.split('\n').find((l) => l.startsWith('ssh-ed25519 '))!;
    t.is(line.split(' ')[1], img.hostKey.split(' ')[1]);
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
});

test('authorizedKeyCmdline round-trips an ssh2 ed25519 key', (t) => {
  const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'a comment with spaces' });
  const words = authorizedKeyCmdline(pair.public);
  t.true(words.length > 0);
  for (const w of words) t.notRegex(w, /\s/, `kernel command-line word with whitespace: ${w}`);
  const cmdline = ['console=ttyS0', 'panic=-1', 'quiet', ...words, 'loglevel=5'].join(' ');
  const line = authorizedKeyFromCmdline(cmdline);
  t.truthy(line);
  const back = ssh2.utils.parseKey(line!);
  const orig = ssh2.utils.parseKey(pair.public);
  t.false(back instanceof Error);
  t.false(orig instanceof Error);
  const blob = (k: typeof back): Buffer => (Array.isArray(k) ? k[0]! : (k as ssh2.ParsedKey)).getPublicSSH();
  t.true(blob(back).equals(blob(orig)));
  t.is((Array.isArray(back) ? back[0]! : (back as ssh2.ParsedKey)).type, 'ssh-ed25519');
  t.throws(() => authorizedKeyCmdline('ssh-ed25519 not-base64!'));
  t.throws(() => authorizedKeyCmdline(pair.private));
  t.throws(() => parseOpenSshPublicKey(`ssh-rsa ${pair.public.split(' ')[1]}`), { message: /blob holds ssh-ed25519/ });
});

test('a second call is a cache hit that does not rebuild', async (t) => {
  const a = await first;
  const before = await Promise.all([fs.stat(a.initramfs), fs.stat(a.nodeDisk)]);
  const b = await buildGuestImage({ logDir });
  t.true(b.cached);
  // No wall-clock bound here (it flaked under load): the same inodes and mtimes below prove nothing was rebuilt.
  t.is(b.initramfs, a.initramfs);
  t.is(b.nodeDisk, a.nodeDisk);
  t.is(b.hostKey, a.hostKey);
  t.deepEqual(b.sizes, a.sizes);
  const after = await Promise.all([fs.stat(b.initramfs), fs.stat(b.nodeDisk)]);
  for (const i of [0, 1]) {
    t.is(after[i]!.ino, before[i]!.ino);
    t.is(after[i]!.mtimeMs, before[i]!.mtimeMs);
  }
  // Exactly one entry was ever built in this cache.
  const entries = (await fs.readdir(path.join(cacheDir, 'guest-image'))).filter((n) => !n.includes('.'));
  t.is(entries.length, 1);
});

test('the init script parses under busybox sh', async (t) => {
  await t.notThrowsAsync(execFileP('/bin/busybox', ['sh', '-n', INIT_SCRIPT]));
  const text = await fs.readFile(INIT_SCRIPT, 'utf8');
  t.regex(text, /^echo "kph: sshd ready"$/m);
  t.notRegex(text, /dropbear[^\n]* -R/);
});

test('the cpio writer rejects a child before its directory and duplicate paths', (t) => {
  t.throws(() => newcArchive([{ type: 'file', path: 'a/b', mode: 0o644, data: Buffer.from('x') }]), { message: /precedes its directory/ });
  t.throws(() => newcArchive([{ type: 'dir', path: 'a', mode: 0o755 }, { type: 'dir', path: '/a/', mode: 0o755 }]), { message: /duplicate/ });
  const arc = newcArchive([{ type: 'dir', path: 'a', mode: 0o755 }, { type: 'file', path: 'a/b', mode: 0o644, data: Buffer.from('xyz') }]);
  t.is(arc.length % 4, 0);
  t.is(arc.subarray(0, 6).toString(), '070701');
  t.true(arc.includes(Buffer.from('TRAILER!!!\0')));
});
