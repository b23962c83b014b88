// One line saying where a kernel came from, from its facts (summary.md's kernel lines): a
// rendering of the run document, so it sits with the outputs.
import type { SourceFacts } from '../run/facts.js';

/** One line saying where a kernel came from, for humans (summary.md): e.g. "Debian linux-source-6.12 6.12.118-1~deb12u1 + revert.patch". */
export function describeSource(f: SourceFacts): string {
  return f.checkout?.label ?? 'source not recorded';
}
