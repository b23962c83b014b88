// The wiring of kernel jobs, shared by every entry point through the Lab: one client key per
// run, the guest image and guests, and the base time budgets.
import type { GuestImage } from '../image/build.js';
import { authorizedKeyCmdline } from '../image/cmdline.js';
import { tsGuestPath } from '../guests/index.js';
import { newClientKey } from '../ssh/keys.js';
import type { AccelChoice } from '../vm/accel.js';
import type { RunEvent } from './events.js';
import type { JobContext } from './kernel-job.js';

/** Base budgets in ms (scaled by the accelerator's timeScale): boot, per cell, inactivity, per command. */
export const DEFAULT_BUDGETS: JobContext['budgets'] = { bootMs: 20_000, perCellMs: 2_000, inactivityMs: 30_000, commandMs: 20_000 };

export interface JobContextOptions {
  runId: string;
  runDir: string;
  accel: AccelChoice;
  image: Pick<GuestImage, 'initramfs' | 'nodeDisk' | 'hostKey'>;
  /** The compiled C guest. */
  cGuest: string;
  /** Extra kernel command-line words. */
  append: string[];
  bootAttempts: number;
  emit: (e: RunEvent) => void;
  signal: AbortSignal;
}

/** A JobContext with a fresh client key whose public half goes on the guests' command line. */
export function jobContext(o: JobContextOptions): JobContext {
  const clientKey = newClientKey();
  return {
    runId: o.runId, runDir: o.runDir, accel: o.accel,
    initramfs: o.image.initramfs, nodeDisk: o.image.nodeDisk, hostKey: o.image.hostKey, clientKey,
    cmdline: [...authorizedKeyCmdline(clientKey.publicKey), ...o.append],
    guests: { c: o.cGuest, ts: tsGuestPath() },
    budgets: DEFAULT_BUDGETS,
    bootAttempts: o.bootAttempts,
    emit: o.emit,
    signal: o.signal,
  };
}
