// The guest image: a small uncompressed newc initramfs (busybox-static, dropbear and its libraries,
// a host key generated here, guest/image/init) plus a read-only ext2 disk holding Node.js and
// the libraries only Node needs. Node stays out of the initramfs because unpacking a large
// initramfs costs seconds of boot under TCG; the guest mounts the disk (/dev/vda) on /opt/node.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { cacheEntry, contentKey } from '../util/cache.js';
import { runLogged } from '../util/exec.js';
import { projectRoot } from '../util/paths.js';
import { parseOpenSshPublicKey } from './cmdline.js';
import { type CpioEntry, archivePath, writeCpio } from './cpio.js';

export { authorizedKeyCmdline } from './cmdline.js';

/** Bump when the recipe below changes what ends up in the image. */
export const RECIPE_VERSION = 'guest-image/4';

export interface GuestImage {
  /** absolute path of the cpio archive (in the cache) */
  initramfs: string;
  /** absolute path of a raw read-only ext2 image holding Node.js and the libraries only it needs */
  nodeDisk: string;
  /** the guest's host public key, "ssh-ed25519 AAAA..." (generated at image build, pinned by the client) */
  hostKey: string;
  cached: boolean;
  seconds: number;
  sizes: { initramfsBytes: number; nodeDiskBytes: number };
}

/** Where the guest's init mounts the node disk (must match guest/image/init). */
export const NODE_MOUNT = '/opt/node';
export const INIT_SCRIPT = path.join(projectRoot, 'guest/image/init');
const HOST_KEY_PATH = 'etc/dropbear/dropbear_ed25519_host_key';
const BUSYBOX = '/bin/busybox';
const DROPBEAR = '/usr/sbin/dropbear';
const DROPBEARKEY = '/usr/bin/dropbearkey';
const FILES = { initramfs: 'initramfs.cpio', nodeDisk: 'node.ext2', hostKey: 'host_key.pub', manifest: 'manifest.json' };

const execFileP = promisify(execFile);

async function capture(cmd: string, args: readonly string[]): Promise<string> {
  const { stdout } = await execFileP(cmd, args, { maxBuffer: 16 << 20, encoding: 'utf8' });
  return stdout;
}

interface SharedLib {
  /** path as the dynamic loader resolves it (where the guest must have it) */
  path: string;
  /** the file behind any symlinks on the host */
  real: string;
  size: number;
  mtimeMs: number;
}

/** The shared libraries of an executable per ldd; [] for a static one. */
export async function sharedLibraries(exe: string): Promise<SharedLib[]> {
  let out: string;
  try {
    out = await capture('ldd', [exe]);
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    if (/not a dynamic executable|statically linked/.test(`${err.stdout ?? ''}${err.stderr ?? ''}`)) return [];
    throw new Error(`ldd ${exe} failed: ${(e as Error).message}`);
  }
  if (/statically linked/.test(out)) return [];
  const libs: SharedLib[] = [];
  for (const line of out.split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('linux-vdso') || t.startsWith('linux-gate')) continue;
    if (/=> not found/.test(t)) throw new Error(`${exe}: shared library missing on the host: ${t}`);
    const m = /=>\s*(\/\S+)\s/.exec(`${t} `) ?? /^(\/\S+)\s/.exec(`${t} `);
    if (!m) continue;
    const p = m[1]!;
    const real = await fs.realpath(p);
    const st = await fs.stat(real);
    libs.push({ path: p, real, size: st.size, mtimeMs: Math.trunc(st.mtimeMs) });
  }
  return libs;
}

interface Inputs {
  node: string;
  dropbearLibs: SharedLib[];
  /** node's libraries that are not already in the initramfs: they go on the node disk */
  nodeOnlyLibs: SharedLib[];
  init: Buffer;
  key: string;
  description: Record<string, unknown>;
}

async function mustExist(p: string, pkg: string): Promise<void> {
  await fs.access(p).catch(() => {
    throw new Error(`${p} is missing: install the Debian package ${pkg}`);
  });
}

async function gatherInputs(): Promise<Inputs> {
  await Promise.all([mustExist(BUSYBOX, 'busybox-static'), mustExist(DROPBEAR, 'dropbear-bin'), mustExist(DROPBEARKEY, 'dropbear-bin')]);
  const node = await fs.realpath(process.env.KPH_GUEST_NODE || process.execPath);
  const [versions, nodeVersion, nodeStat, init, busyboxLibs, dropbearLibs, nodeLibs] = await Promise.all([
    capture('dpkg-query', ['-W', '-f=${Package} ${Version}\n', 'busybox-static', 'dropbear-bin']),
    node === (await fs.realpath(process.execPath)) ? Promise.resolve(process.version) : capture(node, ['--version']).then((s) => s.trim()),
    fs.stat(node),
    fs.readFile(INIT_SCRIPT),
    sharedLibraries(BUSYBOX),
    sharedLibraries(DROPBEAR),
    sharedLibraries(node),
  ]);
  if (busyboxLibs.length > 0) throw new Error(`${BUSYBOX} is not static (it needs ${busyboxLibs.map((l) => l.path).join(', ')}): install busybox-static`);
  const inInitramfs = new Set(dropbearLibs.map((l) => l.path));
  const nodeOnlyLibs = nodeLibs.filter((l) => !inInitramfs.has(l.path));
  const libId = (l: SharedLib): string => `${l.path}=${l.real}:${l.size}:${l.mtimeMs}`;
  const description = {
    recipe: RECIPE_VERSION,
    packages: versions.trim().split('\n'),
    node: { path: node, version: nodeVersion, size: nodeStat.size, mtimeMs: Math.trunc(nodeStat.mtimeMs) },
    dropbearLibs: dropbearLibs.map(libId),
    nodeLibs: nodeLibs.map(libId),
  };
  const key = contentKey([JSON.stringify(description), init]);
  return { node, dropbearLibs, nodeOnlyLibs, init, key, description };
}

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'u1000:x:1000:1000:test user 1000:/home/u1000:/bin/sh',
  'u1001:x:1001:1001:test user 1001:/home/u1001:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
];
const GROUP = ['root:x:0:', 'tty:x:5:', 'u1000:x:1000:', 'u1001:x:1001:', 'nogroup:x:65534:'];
// "*": no password can match; not "!", which dropbear treats as a locked account.
const SHADOW = ['root:*:19000:0:99999:7:::', 'u1000:*:19000:0:99999:7:::', 'u1001:*:19000:0:99999:7:::', 'nobody:*:19000:0:99999:7:::'];
const lines = (ls: string[]): Buffer => Buffer.from(`${ls.join('\n')}\n`);

async function initramfsEntries(inputs: Inputs, hostKeyPrivate: Buffer): Promise<CpioEntry[]> {
  const entries = new Map<string, CpioEntry>();
  const add = (e: CpioEntry): void => {
    const p = archivePath(e.path);
    if (entries.has(p)) throw new Error(`initramfs recipe puts two things at /${p}`);
    entries.set(p, { ...e, path: p });
  };
  const dirModes: Record<string, { mode: number; uid?: number; gid?: number }> = {
    root: { mode: 0o700 },
    tmp: { mode: 0o1777 },
    'home/u1000': { mode: 0o700, uid: 1000, gid: 1000 },
    'home/u1001': { mode: 0o700, uid: 1001, gid: 1001 },
    'etc/dropbear': { mode: 0o700 },
  };
  for (const d of ['dev', 'proc', 'sys', 'tmp', 'run', 'root', 'etc/dropbear', 'opt/node', 'var/log', 'home/u1000', 'home/u1001', 'usr/bin', 'usr/sbin', 'bin', 'sbin']) {
    add({ type: 'dir', path: d, ...(dirModes[d] ?? { mode: 0o755 }) });
  }
  add({ type: 'chardev', path: 'dev/console', mode: 0o600, major: 5, minor: 1 });
  add({ type: 'symlink', path: 'var/run', target: '/run' });
  add({ type: 'file', path: 'init', mode: 0o755, data: inputs.init });

  add({ type: 'file', path: BUSYBOX, mode: 0o755, data: await fs.readFile(BUSYBOX) });
  const applets = (await capture(BUSYBOX, ['--list-full'])).split('\n').map((s) => s.trim()).filter(Boolean);
  if (!applets.includes('bin/sh')) throw new Error(`${BUSYBOX} --list-full has no bin/sh`);
  for (const a of applets) {
    if (archivePath(a) === archivePath(BUSYBOX) || entries.has(archivePath(a))) continue;
    add({ type: 'symlink', path: a, target: BUSYBOX });
  }

  add({ type: 'file', path: DROPBEAR, mode: 0o755, data: await fs.readFile(DROPBEAR) });
  for (const lib of inputs.dropbearLibs) add({ type: 'file', path: lib.path, mode: 0o755, data: await fs.readFile(lib.real) });
  // Libraries only node needs live on the disk; the loader finds them through these links
  // once /dev/vda is mounted.
  for (const lib of inputs.nodeOnlyLibs) {
    add({ type: 'symlink', path: lib.path, target: path.posix.join(NODE_MOUNT, 'lib', path.basename(lib.path)) });
  }
  add({ type: 'symlink', path: 'usr/bin/node', target: path.posix.join(NODE_MOUNT, 'bin/node') });

  add({ type: 'file', path: HOST_KEY_PATH, mode: 0o600, data: hostKeyPrivate });
  add({ type: 'file', path: 'etc/passwd', mode: 0o644, data: lines(PASSWD) });
  add({ type: 'file', path: 'etc/group', mode: 0o644, data: lines(GROUP) });
  add({ type: 'file', path: 'etc/shadow', mode: 0o600, data: lines(SHADOW) });
  add({ type: 'file', path: 'etc/shells', mode: 0o644, data: lines(['/bin/sh', '/bin/ash']) });
  add({ type: 'file', path: 'etc/nsswitch.conf', mode: 0o644, data: lines(['passwd: files', 'group: files', 'shadow: files', 'hosts: files']) });
  add({ type: 'file', path: 'etc/hosts', mode: 0o644, data: lines(['127.0.0.1 localhost kph-guest', '::1 localhost ip6-localhost']) });

  // Every parent directory exists, and sorting puts each directory before its contents.
  for (const p of [...entries.keys()]) {
    for (let d = path.posix.dirname(p); d !== '.'; d = path.posix.dirname(d)) {
      if (!entries.has(d)) entries.set(d, { type: 'dir', path: d, mode: 0o755 });
      else if (entries.get(d)!.type !== 'dir') throw new Error(`initramfs recipe: /${d} is both a directory and a ${entries.get(d)!.type}`);
    }
  }
  return [...entries.keys()].sort().map((k) => entries.get(k)!);
}

async function buildNodeDisk(inputs: Inputs, tmp: string, log: string, signal?: AbortSignal): Promise<string> {
  const root = path.join(tmp, 'node-disk-root');
  await fs.mkdir(path.join(root, 'bin'), { recursive: true });
  await fs.mkdir(path.join(root, 'lib'), { recursive: true });
  const nodeDst = path.join(root, 'bin/node');
  // A hard link avoids copying ~100 MB twice when the cache shares the host's filesystem.
  await fs.link(inputs.node, nodeDst).catch(() => fs.copyFile(inputs.node, nodeDst));
  let total = (await fs.stat(nodeDst)).size;
  for (const lib of inputs.nodeOnlyLibs) {
    const dst = path.join(root, 'lib', path.basename(lib.path));
    await fs.copyFile(lib.real, dst);
    await fs.chmod(dst, 0o755);
    total += lib.size;
  }
  // 4 KiB blocks: data, ~1 indirect block per 4 MiB, inode tables and bitmaps, plus slack.
  const kib = Math.ceil((total * 1.03) / 4096) * 4 + 2048;
  const image = path.join(tmp, FILES.nodeDisk);
  await runLogged('mke2fs', ['-q', '-F', '-t', 'ext2', '-b', '4096', '-m', '0', '-N', '64', '-L', 'kph-node', '-E', 'root_owner=0:0', '-d', root, image, `${kib}k`], { log, signal });
  await fs.rm(root, { recursive: true, force: true });
  return image;
}

async function generateHostKey(tmp: string, log: string, signal?: AbortSignal): Promise<{ privateKey: Buffer; publicKey: string }> {
  const keyFile = path.join(tmp, 'host_key');
  await runLogged(DROPBEARKEY, ['-t', 'ed25519', '-f', keyFile], { log, signal });
  const out = await capture(DROPBEARKEY, ['-y', '-f', keyFile]);
  const line = out.split('\n').find((l) => l.startsWith('ssh-ed25519 '));
  if (!line) throw new Error(`dropbearkey -y printed no ssh-ed25519 line: ${out}`);
  const { type, blob } = parseOpenSshPublicKey(line);
  const privateKey = await fs.readFile(keyFile);
  await fs.rm(keyFile);
  return { privateKey, publicKey: `${type} ${blob}` };
}

/** Builds the guest image, or returns the cached one built from the same inputs. */
export async function buildGuestImage(opts: { logDir: string; signal?: AbortSignal }): Promise<GuestImage> {
  const t0 = performance.now();
  const inputs = await gatherInputs();
  const entry = await cacheEntry('guest-image', inputs.key, async (tmp) => {
    await fs.mkdir(opts.logDir, { recursive: true });
    const log = path.join(opts.logDir, 'guest-image.log');
    await fs.appendFile(log, `building guest image ${inputs.key}\n${JSON.stringify(inputs.description, null, 2)}\n`);
    const { privateKey, publicKey } = await generateHostKey(tmp, log, opts.signal);
    opts.signal?.throwIfAborted();
    const entries = await initramfsEntries(inputs, privateKey);
    await writeCpio(path.join(tmp, FILES.initramfs), entries);
    opts.signal?.throwIfAborted();
    await buildNodeDisk(inputs, tmp, log, opts.signal);
    await fs.writeFile(path.join(tmp, FILES.hostKey), `${publicKey}\n`);
    await fs.writeFile(
      path.join(tmp, FILES.manifest),
      `${JSON.stringify({ ...inputs.description, hostKey: publicKey, initramfsEntries: entries.length, builtAt: new Date().toISOString() }, null, 2)}\n`,
    );
  });
  const initramfs = path.join(entry.dir, FILES.initramfs);
  const nodeDisk = path.join(entry.dir, FILES.nodeDisk);
  const [hostKeyText, iSt, dSt] = await Promise.all([fs.readFile(path.join(entry.dir, FILES.hostKey), 'utf8'), fs.stat(initramfs), fs.stat(nodeDisk)]);
  const { type, blob } = parseOpenSshPublicKey(hostKeyText);
  return {
    initramfs,
    nodeDisk,
    hostKey: `${type} ${blob}`,
    cached: entry.cached,
    seconds: (performance.now() - t0) / 1000,
    sizes: { initramfsBytes: iSt.size, nodeDiskBytes: dSt.size },
  };
}
