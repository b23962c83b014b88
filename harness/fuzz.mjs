#!/usr/bin/env zx
// Entry point of the differential fuzzer: compile the TypeScript sources if they changed, then
// fuzzMain() (see harness/src/fuzz/). `node harness/fuzz.mjs --help` lists the options.
import { ensureBuilt } from './ensure-built.mjs';

const fail = (e) => { console.error('kph fuzz: internal error:', e); process.exit(4); };
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
await ensureBuilt();
const { fuzzMain } = await import('../build/harness/src/fuzz/main.js');
const code = await fuzzMain(process.argv.slice(process.argv.findIndex((a) => a.endsWith('fuzz.mjs')) + 1));
// Every VM is stopped by now; an SSH exec interrupted mid-batch can leave its inactivity timer
// armed (ssh/session.ts re-arms it on late output), which would keep Node alive for minutes.
process.exit(code);
