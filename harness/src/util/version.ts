// The harness's version, as package.json states it (printed by --version).
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from './paths.js';

/** "kernel-patch-harness 0.1.0" from the checkout's package.json. */
export function versionLine(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { name?: string; version?: string };
  return `${pkg.name ?? 'kernel-patch-harness'} ${pkg.version ?? '(unknown version)'}`;
}
