// Kernel source kind `bzImage: PATH`: a prebuilt kernel, booted as is (prebuilt.ts reads its
// release from the setup header). Nothing is built, so it has no tree to build selftests from.
import fs from 'node:fs';
import { bzImageProblem, imageHead, prebuiltKernel } from './prebuilt.js';
import { expandPath, type KernelSource, type SourceKind } from './source.js';

export interface BzImageSource { kind: 'bzImage'; path: string; release?: string }

export const bzImageKind: SourceKind<BzImageSource> = {
  kind: 'bzImage',
  keys: { bzImage: { type: 'string', minLength: 1 } },
  topKeys: { release: { type: 'string', pattern: '^\\S+$' } },
  built: false,
  resolve(raw, top, base, complain) {
    const given = raw.bzImage as string;
    const release = top.release as string | undefined;
    const image = expandPath(given, base);
    if (!fs.existsSync(image)) complain(['source', 'bzImage'], `expected an existing bzImage file, found ${JSON.stringify(given)} (${image} does not exist)`);
    else {
      let problem: string | undefined;
      try {
        problem = fs.statSync(image).isFile() ? bzImageProblem(imageHead(image), release) : 'expected a bzImage file, found a folder';
      } catch (e) {
        problem = `expected a readable bzImage file: ${(e as Error).message}`;
      }
      if (problem) complain(['source', 'bzImage'], `${problem} (${image})`);
    }
    return { kind: 'bzImage', path: image, release };
  },
  open(spec): KernelSource {
    const s = spec.source;
    return {
      packages: [],
      async facts() {
        return { kind: 'bzImage', path: s.path, fromSource: false, checkout: { label: `prebuilt ${s.path}`, comment: `prebuilt ${s.path}`, fields: {}, misc: { bzImage: s.path } } };
      },
      build: (opts) => prebuiltKernel({ name: spec.name, profile: spec.profile, bzImage: s.path, release: s.release, logDir: opts.logDir }),
    };
  },
};
