// System packages the harness needs: checked with dpkg, installed with apt-get when running as
// root, otherwise named in one message with the exact command.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

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

export class ProvisionError extends Error {
  override name = 'ProvisionError';
}

/** The required packages that dpkg does not report as installed. */
export async function missingPackages(packages = REQUIRED_PACKAGES.map(([p]) => p)): Promise<string[]> {
  const missing: string[] = [];
  for (const p of packages) {
    try {
      const { stdout } = await run('dpkg-query', ['-W', '-f=${Status}', p]);
      if (!stdout.includes('install ok installed')) missing.push(p);
    } catch {
      missing.push(p);
    }
  }
  return missing;
}

/** Makes sure every required package is there; installs them as root, else throws with the command. */
export async function provision(log: (msg: string) => void, opts: { tests?: boolean } = {}): Promise<{ installed: string[] }> {
  const wanted = [...REQUIRED_PACKAGES, ...(opts.tests ? TEST_PACKAGES : [])].map(([p]) => p);
  const missing = await missingPackages(wanted);
  if (missing.length === 0) return { installed: [] };
  const command = `apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (process.getuid?.() !== 0) {
    throw new ProvisionError(`missing Debian packages: ${missing.join(', ')}.\nInstall them as root, then run again:\n  sudo apt-get update && sudo ${command}`);
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
