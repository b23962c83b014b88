// The Lab: what every entry point (the main job, a bisect step, the fuzzer) needs around its
// kernel jobs, owned in one place: one AbortController per run and the SIGINT/SIGTERM handlers
// (a second signal kills every VM and exits at once), the event sinks, the orphan sweep,
// provisioning, the accelerator, the QEMU and KPH_FAULT checks, the guest image and C guest,
// the job context; every build takes the lab's signal, so its commands (util/exec.ts runLogged) stop with the run. Created once with Lab.open(), disposed once: each
// resource registers its cleanup as it is acquired, and dispose() runs them in reverse.
import { buildCGuest } from '../guests/index.js';
import { buildGuestImage, type GuestImage } from '../image/build.js';
import { InputError } from '../core/errors.js';
import { onStorageFailure } from '../util/write.js';
import { activeFaults, FaultSpecError } from '../util/fault.js';
import { chooseAccel, type Accel, type AccelChoice } from '../vm/accel.js';
import { resolveQemu } from '../vm/qemu.js';
import { killAllVms } from '../vm/registry.js';
import { sweepOrphans } from '../vm/sweep.js';
import { multiplex, type Reporter, type RunEvent } from './events.js';
import { jobContext, type JobContextOptions } from './job-context.js';
import type { JobContext } from './kernel-job.js';

export { DEFAULT_BUDGETS, jobContext, type JobContextOptions } from './job-context.js';

export interface LabOptions {
  /** Prints one line on stderr (e.g. "kph: …"), for what is said before or besides the event sinks. */
  say: (line: string) => void;
  /** The exit code of a run stopped by a second signal. */
  interruptedExit: number;
  /** The line the first signal prints on stderr (default: say("SIGINT: stopping (again to force)")). */
  stopping?: (sig: NodeJS.Signals) => string;
  /** Evidence that cannot be written (disk full) aborts the run with the StorageError (the main job). */
  stopOnStorageFailure?: boolean;
  /** Installs Debian packages (provision.ts's provision(), given by the entry point: run/ does not import it). */
  provision: Provisioner;
}

/** provision.ts's provision(): installs what is missing, throws ProvisionError (exit 2) when it cannot. */
export type Provisioner = (log: (message: string) => void, opts: { extra?: ReadonlyArray<{ name: string; why: string }> }) => Promise<unknown>;

export class Lab {
  readonly #controller = new AbortController();
  readonly #cleanups: Array<() => void | Promise<void>> = [];
  #emit: Reporter = () => undefined;
  #disposed = false;

  private constructor(readonly options: LabOptions) {}

  /** Opens the lab: checks KPH_FAULT (exit 2 if malformed), installs the signal handlers. */
  static open(options: LabOptions): Lab {
    try { activeFaults(); } catch (e) {
      if (e instanceof FaultSpecError) throw new InputError(e.message, { key: 'KPH_FAULT' });
      throw e;
    }
    const lab = new Lab(options);
    const onSignal = (sig: NodeJS.Signals): void => {
      if (lab.signal.aborted) { killAllVms(); process.exit(options.interruptedExit); }
      if (options.stopping) process.stderr.write(options.stopping(sig));
      else options.say(`${sig}: stopping (again to force)`);
      lab.#controller.abort(new Error(`interrupted by ${sig}`));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    lab.defer(() => { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal); });
    if (options.stopOnStorageFailure) {
      lab.defer(onStorageFailure((e) => {
        if (lab.signal.aborted) return;
        options.say(`${e.message}; stopping the run`);
        lab.#controller.abort(e);
      }));
    }
    return lab;
  }

  /** Aborted by a signal or a storage failure; its reason says which. */
  get signal(): AbortSignal { return this.#controller.signal; }

  /** Registers a cleanup, run by dispose() in reverse order of registration. */
  defer(cleanup: () => unknown): void { this.#cleanups.push(cleanup as () => void | Promise<void>); }

  /** Runs every cleanup once (the last acquired first); a failing cleanup does not stop the others. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const c of this.#cleanups.reverse()) {
      try { await c(); } catch (e) { this.options.say(`cleanup failed: ${(e as Error).message}`); }
    }
  }

  /** The event sinks: every event goes to each reporter (a reporter that throws is dropped). */
  report(reporters: Reporter[]): Reporter {
    this.#emit = multiplex(reporters);
    return this.#emit;
  }

  /** Sends an event to the reporters. */
  readonly emit = (e: RunEvent): void => this.#emit(e);

  /** Kills QEMUs left by a harness that died (never one of a live harness). */
  sweep(): void {
    for (const o of sweepOrphans()) this.emit({ type: 'progress', scope: 'sweep', message: `killed QEMU ${o.pid} left by dead harness ${o.harnessPid} (${o.name})` });
  }

  /** Installs the Debian packages the lab needs (and `extra`); throws ProvisionError (exit 2). */
  async provision(extra?: ReadonlyArray<{ name: string; why: string }>): Promise<void> {
    await this.options.provision((m) => this.emit({ type: 'progress', scope: 'provision', message: m }), { extra });
  }

  /** The accelerator (`auto` probes KVM), announced. */
  accel(requested: Accel | 'auto', timeoutScale?: number): AccelChoice {
    const accel = chooseAccel(requested === 'auto' ? undefined : requested, timeoutScale);
    this.emit({ type: 'progress', scope: 'accel', message: `${accel.accel} (${accel.reason}); timeouts ×${accel.timeScale}` });
    return accel;
  }

  /** The emulator is there and runs: throws QemuConfigError (exit 2) before anything is built. */
  checkQemu(): string { return resolveQemu(); }

  /** The guest image and the C guest, from the cache or built now (logs in logDir). */
  guests(logDir: string): Promise<[GuestImage, { path: string; cached: boolean }]> {
    return Promise.all([buildGuestImage({ logDir, signal: this.signal }), buildCGuest({ logDir, signal: this.signal })]);
  }

  /** The context kernel jobs run in: this lab's signal and event sinks, a fresh client key. */
  jobContext(o: Omit<JobContextOptions, 'emit' | 'signal'>): JobContext {
    return jobContext({ ...o, emit: this.emit, signal: this.signal });
  }
}
