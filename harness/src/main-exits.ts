// The main job's exits for a lab that is not ready: missing Debian packages (ProvisionError)
// and an emulator that is missing or rejects a flag (QemuConfigError) are the user's setup to
// fix: exit 2 with the message, never a boot timeout.
import { ProvisionError } from './provision.js';
import { EXIT } from './core/verdict.js';
import { QemuConfigError } from './vm/qemu.js';

/** Runs `provision`; undefined when the lab is ready, else the exit code (2) after saying what is missing. */
export async function provisionOrExit(provision: () => Promise<void>): Promise<number | undefined> {
  try {
    await provision();
    return undefined;
  } catch (e) {
    if (e instanceof ProvisionError) { process.stderr.write(`kph: ${e.message}\n`); return EXIT.usage; }
    throw e;
  }
}

/** Exit 2 for a QemuConfigError (after saying it); anything else is rethrown. */
export function qemuConfigExit(e: unknown): number {
  if (!(e instanceof QemuConfigError)) throw e;
  process.stderr.write(`kph: ${e.message}\n`);
  return EXIT.usage;
}
