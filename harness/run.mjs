#!/usr/bin/env zx
// Entry point of the main job: compile the TypeScript sources if they changed, then main().
import { ensureBuilt } from './ensure-built.mjs';

await ensureBuilt();
const { main } = await import('../build/harness/src/main.js');
process.exitCode = await main(process.argv.slice(process.argv.findIndex((a) => a.endsWith('run.mjs')) + 1));
