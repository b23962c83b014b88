// The embedded default pair: Debian's linux-source-6.1 as shipped ("after": it contains
// 4b01a967 and its follow-up) and the same source with 4b01a967's effect reverted ("before").
import path from 'node:path';
import { projectRoot } from '../util/paths.js';
import type { KernelVariant } from './build.js';

/** The Kconfig fragment merged on top of tinyconfig. */
export function defaultFragment(): string {
  return path.join(projectRoot, 'kernels', 'config', 'kph.config');
}

/** Patches for the Debian 6.1 tree. */
export function patchDir61(): string {
  return path.join(projectRoot, 'kernels', 'patches', '6.1');
}

/** [after, before]: after first, so before is an incremental rebuild of the same tree. */
export function defaultPair(): KernelVariant[] {
  return [
    { name: 'after', localversion: '-kph-after', patches: [], profile: '4b01a967+followup' },
    {
      name: 'before',
      localversion: '-kph-before',
      patches: [path.join(patchDir61(), 'revert-4b01a967.patch')],
      profile: 'pre-4b01a967',
    },
  ];
}
