// Locates the compiled TypeScript guest (guest/ts/app-guest.cts → build/guest/ts/app-guest.cjs).
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../util/paths.js';

/** Name to give the TS guest inside the VM: a CommonJS module, whatever package.json is near it. */
export const TS_GUEST_REMOTE_NAME = 'app-guest.cjs';

/** Path of the compiled TS guest; throws when it has not been built. */
export function tsGuestPath(): string {
  const p = path.join(projectRoot, 'build/guest/ts/app-guest.cjs');
  if (!fs.existsSync(p)) {
    throw new Error(`the TypeScript guest is not built: ${p} is missing; run \`npm run build\` in ${projectRoot}`);
  }
  return p;
}
