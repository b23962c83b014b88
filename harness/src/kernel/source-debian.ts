// Kernel source kind `debian: linux-source-X.Y`: Debian's kernel source package, built from the
// tarball it installs (/usr/src/linux-source-X.Y.tar.xz) with the description's patches, in a
// persistent tree per source (build.ts). Its selftests are built from the same tarball.
import { buildKernels } from './build.js';
import { compilerIdentity } from './keys.js';
import { answer } from './proc.js';
import { patchFacts, type KernelSource, type SourceKind } from './source.js';

export interface DebianSource { kind: 'debian'; package: string; tarball: string }

export const debianKind: SourceKind<DebianSource> = {
  kind: 'debian',
  keys: { debian: { type: 'string', pattern: '^linux-source-[0-9]+\\.[0-9]+$' } },
  built: true,
  resolve(raw) {
    // Not installed yet is fine: provisioning installs every Debian source a selected kernel names.
    const pkg = raw.debian as string;
    return { kind: 'debian', package: pkg, tarball: `/usr/src/${pkg}.tar.xz` };
  },
  open(spec): KernelSource {
    const s = spec.source;
    const tree = { tarball: s.tarball, sourcePackage: s.package };
    return {
      packages: [s.package],
      tree,
      async facts() {
        const [version, compiler] = await Promise.all([
          answer('dpkg-query', ['-W', '-f=${Version}', s.package]),
          compilerIdentity().catch(() => undefined),
        ]);
        return { kind: 'debian', package: s.package, version, tarball: s.tarball, ...patchFacts(spec.patches), compiler, localversion: spec.localversion };
      },
      async build(opts) {
        const variant = { name: spec.name, localversion: spec.localversion ?? '', patches: spec.patches, profile: spec.profile };
        const [k] = await buildKernels({ variants: [variant], ...opts, fragment: spec.fragment, tarball: s.tarball, sourcePackage: s.package });
        return { ...k, tree };
      },
    };
  },
};
