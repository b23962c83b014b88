#!/usr/bin/env zx
// Joins shard run directories into one: harness/merge.mjs RUN_DIR… --out DIR
import { ensureBuilt } from './ensure-built.mjs';

await ensureBuilt();
const { mergeMain } = await import('../build/harness/src/merge.js');
process.exitCode = await mergeMain(process.argv.slice(process.argv.findIndex((a) => a.endsWith('merge.mjs')) + 1));
