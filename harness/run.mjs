#!/usr/bin/env zx
// Entry point of the main job: compile the TypeScript sources if they changed, then main().
// An error that is not a test result never exits 1 ("a cell differed"): main() maps input
// errors to 2 and anything unexpected to 4; what escapes it (or the compile) is 4 here.
import { ensureBuilt } from './ensure-built.mjs';

const INTERNAL = 4;
const verbose = process.argv.includes('-v') || process.argv.includes('--verbose');
const fail = (e) => {
  const text = verbose ? (e?.stack ?? String(e)) : `${String(e?.message ?? e).split('\n')[0]} (run with -v for the stack)`;
  process.stderr.write(`kph: internal error: ${text}\n`);
  process.exit(INTERNAL);
};
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
await ensureBuilt();
const { main } = await import('../build/harness/src/main.js');
process.exitCode = await main(process.argv.slice(process.argv.findIndex((a) => a.endsWith('run.mjs')) + 1));
