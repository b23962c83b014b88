// One line saying where a kernel came from, from its facts (summary.md's kernel lines): a
// rendering of the run document, so it sits with the outputs.
import type { SourceFacts } from '../run/facts.js';

/** One line saying where a kernel came from, for humans (summary.md): e.g. "Debian linux-source-6.12 6.12.118-1~deb12u1 + revert.patch". */
export function describeSource(f: SourceFacts): string {
  if (f.kind === 'bzImage') return `prebuilt ${f.path}`;
  const patches = f.patches.length ? ` + ${f.patches.join(' + ')}` : '';
  if (f.kind === 'debian') return `Debian ${f.package}${f.version ? ` ${f.version}` : ''}${patches}`;
  return `git ${f.url ?? f.tree} ${f.branch ? `${f.branch} ` : ''}${f.commit?.slice(0, 12) ?? f.ref}${patches}`;
}
