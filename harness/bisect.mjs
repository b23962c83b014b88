#!/usr/bin/env zx
// Entry point for `git bisect run`: compiles if sources changed, runs one bisect step and exits
// with git bisect's code (0 good, 1 bad, 125 skip, 200 abort). A harness failure must never
// read as "bad" (Node's own exit code for a crash is 1), so every unexpected failure is 200.
import fs from 'node:fs';
import { ensureBuilt } from './ensure-built.mjs';

const ABORT = 200;
const fail = (e) => { console.error('kph bisect: internal error:', e); process.exit(ABORT); };
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
if (!fs.existsSync(new URL('../node_modules/.bin/tsc', import.meta.url))) fail('node_modules is missing; run `npm ci` in the checkout first');
await ensureBuilt();
const { bisectMain } = await import('../build/harness/src/bisect/main.js');
process.exitCode = await bisectMain(process.argv.slice(process.argv.findIndex((a) => a.endsWith('bisect.mjs')) + 1));
