// Locates the compiled TypeScript guest (guest/ts/app-guest.ts → build/guest/ts/app-guest.js).
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../util/paths.js';

/**
 * Name to give the TS guest inside the VM. The compiled file is an ES module; outside this
 * checkout there is no package.json with "type": "module", so Node 20 needs the .mjs suffix.
 */
export const TS_GUEST_REMOTE_NAME = 'app-guest.mjs';

/** Path of the compiled TS guest; throws when it has not been built. */
export function tsGuestPath(): string {
  const p = path.join(projectRoot, 'build/guest/ts/app-guest.js');
  if (!fs.existsSync(p)) {
    throw new Error(`the TypeScript guest is not built: ${p} is missing; run \`npm run build\` in ${projectRoot}`);
  }
  return p;
}
