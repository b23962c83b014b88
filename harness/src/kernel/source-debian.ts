// Kernel source kind `debian: linux-source-X.Y`: Debian's kernel source package, built from the
// tarball it installs (/usr/src/linux-source-X.Y.tar.xz) with the description's patches, in a
// persistent tree per source (build.ts). Its selftests are built from the same tarball.
import { buildKernels } from './build.js';
import { compilerIdentity } from './keys.js';
import { answer } from './proc.js';
import { defined, keyWithPatches, patchFacts, plusPatches, withPatches, type KernelFacts, type KernelSource, type SourceCheckout, type SourceKind } from './source.js';

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
        return debianFacts({ package: s.package, version, tarball: s.tarball, ...patchFacts(spec.patches), compiler, localversion: spec.localversion });
      },
      async build(opts) {
        const variant = { name: spec.name, localversion: spec.localversion ?? '', patches: spec.patches, profile: spec.profile };
        const [k] = await buildKernels({ variants: [variant], ...opts, fragment: spec.fragment, tarball: s.tarball, sourcePackage: s.package });
        return { ...k, tree };
      },
    };
  },
};

/** A Debian source's facts with how it shows in the outputs (pure: the facts themselves are gathered by facts()). */
export function debianFacts(f: Omit<Extract<KernelFacts, { kind: 'debian' }>, 'kind' | 'checkout' | 'fromSource'>): KernelFacts {
  const checkout: SourceCheckout = {
    key: keyWithPatches(f.package, f.patches),
    label: `Debian ${f.package}${f.version ? ` ${f.version}` : ''}${plusPatches(f.patches)}`,
    comment: `Debian ${f.package}${f.version ? ` ${f.version}` : ''}${withPatches(f.patches) || ' as shipped'}`,
    fields: { tree_name: f.package, patchset_hash: f.patchsetHash },
    misc: defined({ source_package: f.package, source_version: f.version, patches: f.patches, patch_sha256: f.patchHashes }),
  };
  return { kind: 'debian', ...f, fromSource: true, checkout };
}
