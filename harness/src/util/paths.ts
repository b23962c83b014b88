// Where things live: the checkout, the content-addressed cache, the results folder.
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Root of the checkout (this file is build/harness/src/util/paths.js once compiled). */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

/** Cache for kernels, guest images and compiled guests: $KPH_CACHE_DIR, else $XDG_CACHE_HOME/kernel-patch-harness. */
export function cacheRoot(): string {
  if (process.env.KPH_CACHE_DIR) return path.resolve(process.env.KPH_CACHE_DIR);
  const xdg = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(xdg, 'kernel-patch-harness');
}

/** Folder holding one directory per run. */
export function resultsRoot(): string {
  return process.env.KPH_RESULTS_DIR ? path.resolve(process.env.KPH_RESULTS_DIR) : path.join(projectRoot, 'results');
}
