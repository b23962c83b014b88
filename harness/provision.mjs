#!/usr/bin/env node
// Installs the Debian packages the harness and its tests need (as root), or names them.
import { ensureBuilt } from './ensure-built.mjs';

await ensureBuilt();
const { provision, ProvisionError } = await import('../build/harness/src/provision.js');
try {
  // --tests adds the packages only the test suite needs (Chromium, Ruby, Vagrant).
  const { installed } = await provision((m) => console.error(`kph: ${m}`), { tests: process.argv.includes('--tests') });
  console.error(installed.length ? `kph: installed ${installed.join(' ')}` : 'kph: system packages present');
} catch (e) {
  if (!(e instanceof ProvisionError)) throw e;
  console.error(`kph: ${e.message}`);
  process.exitCode = 2;
}
