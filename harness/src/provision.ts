// System packages the harness needs: checked with dpkg, installed with apt-get when running as
// root, otherwise named in one message with the exact command. The Debian kernel sources the
// selected kernel descriptions name (kernels/*.yaml) are provisioned the same way.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { InputError } from './core/errors.js';

const run = promisify(execFile);

/** Debian packages and what each is needed for. */
export const REQUIRED_PACKAGES: ReadonlyArray<readonly [string, string]> = [
  ['qemu-system-x86', 'runs the kernels under test'],
  ['busybox-static', 'the guest userland'],
  ['dropbear-bin', 'the guest SSH server and its host key'],
  ['linux-source-6.1', 'the embedded default kernel source'],
  ['build-essential', 'compiles kernels and the C guest'],
  ['flex', 'kernel build'],
  ['bison', 'kernel build'],
  ['bc', 'kernel build'],
  ['libelf-dev', 'kernel build'],
  ['libssl-dev', 'kernel build'],
  ['cpio', 'packs the initramfs'],
  ['xz-utils', 'unpacks the kernel source'],
  ['e2fsprogs', 'makes the read-only Node.js disk'],
  ['util-linux', 'setpriv --pdeathsig keeps QEMU from outliving the harness'],
];

/** Debian packages only the test suite needs (installed by `npm test`, not by the main job). */
export const TEST_PACKAGES: ReadonlyArray<readonly [string, string]> = [
  ['chromium', 'headless browser for the HTML report test'],
  ['ruby', 'checks the Vagrantfile syntax in the tests'],
  ['vagrant', 'validates the Vagrantfile in the tests'],
  ['libxml2-utils', 'xmllint: checks junit.xml against the Jenkins xunit JUnit schema in the tests'],
];

/** A package is missing and cannot be installed here (not root, or apt-get failed): exit 2. */
export class ProvisionError extends InputError {
  override name = 'ProvisionError';
  constructor(message: string) { super(message); }
}

export interface ProvisionOptions {
  /** Add the packages only the test suite needs. */
  tests?: boolean;
  /** More packages and why (e.g. the Debian sources of the selected kernels). */
  extra?: ReadonlyArray<{ name: string; why: string }>;
  /** Whether apt-get may be run (default: running as root). */
  root?: boolean;
}

/** The required packages that dpkg does not report as installed (one dpkg-query for all: each call reads dpkg's whole database). */
export async function missingPackages(packages = REQUIRED_PACKAGES.map(([p]) => p)): Promise<string[]> {
  if (packages.length === 0) return [];
  let stdout: string;
  try {
    ({ stdout } = await run('dpkg-query', ['-W', '-f=${Package}\t${Status}\n', ...packages]));
  } catch (e) {
    // Exit 1 when a name is unknown to dpkg: the known ones are still listed on stdout.
    stdout = (e as { stdout?: string }).stdout ?? '';
  }
  const installed = new Set(stdout.split('\n').filter((l) => l.endsWith('install ok installed')).map((l) => l.split('\t')[0].split(':')[0]));
  return packages.filter((p) => !installed.has(p.split(':')[0]));
}

/** Every package wanted, once, each with why (the first reason given wins). */
export function wantedPackages(opts: ProvisionOptions = {}): Map<string, string> {
  const wanted = new Map<string, string>();
  for (const [p, why] of [...REQUIRED_PACKAGES, ...(opts.tests ? TEST_PACKAGES : []), ...(opts.extra ?? []).map((x) => [x.name, x.why] as const)]) {
    if (!wanted.has(p)) wanted.set(p, why);
  }
  return wanted;
}

/** Makes sure every required package is there; installs them as root, else throws with the command. */
export async function provision(log: (msg: string) => void, opts: ProvisionOptions = {}): Promise<{ installed: string[] }> {
  const wanted = wantedPackages(opts);
  const missing = await missingPackages([...wanted.keys()]);
  if (missing.length === 0) return { installed: [] };
  const command = `apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (!(opts.root ?? process.getuid?.() === 0)) {
    const list = missing.map((p) => `  ${p}: ${wanted.get(p)}`).join('\n');
    throw new ProvisionError(`missing Debian packages:\n${list}\nInstall them as root, then run again:\n  sudo apt-get update && sudo ${command}`);
  }
  log(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    await run('apt-get', ['update'], { env, maxBuffer: 64 * 1024 * 1024 });
    await run('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { env, maxBuffer: 64 * 1024 * 1024 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new ProvisionError(`installing ${missing.join(' ')} failed: ${(err.stderr ?? err.message).trim().slice(-1500)}`);
  }
  const still = await missingPackages(missing);
  if (still.length) throw new ProvisionError(`apt-get finished but these packages are still missing: ${still.join(', ')}`);
  return { installed: missing };
}
