// The main job: check the input, claim the run directory, open the Lab, run the kernels and
// write the run directory (main-job.ts); every error that is not a test result becomes its
// exit code here.
import { EXIT } from './core/verdict.js';
import { StorageError } from './util/write.js';
import { describeError, exitCodeForError, verboseIn } from './core/errors.js';
import { printOraclePredictions, printPlan } from './plan/print.js';
import { provision } from './provision.js';
import { Lab } from './run/lab.js';
import { runMain } from './main-job.js';
import { prepare } from './main-prepare.js';
import { claimPriorRun, resumeTarget } from './main-prior.js';
import { absoluteArgv, type PriorRun } from './run/resume.js';
import { createRunDir, newRunId, RunDirError, type OwnedRunDir } from './run/run-dir.js';
import { resultsRoot } from './util/paths.js';

export { newRunId } from './run/run-dir.js';

/** Runs the main job with argv; returns the process exit code (an error that is not a test result is 2 or 4, never 1). */
export async function main(argv: string[]): Promise<number> {
  try {
    return await mainUnguarded(argv);
  } catch (e) {
    if (e instanceof RunDirError) { process.stderr.write(`kph: ${e.message}\n`); return EXIT.usage; }
    if (e instanceof StorageError) { process.stderr.write(`kph: ${e.message}\n`); return EXIT.infrastructure; }
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOSPC' || err.code === 'EDQUOT' || err.code === 'EROFS' || err.code === 'EACCES') {
      process.stderr.write(`kph: cannot write ${err.path ?? 'the results'}: ${err.message}\n`);
      return EXIT.infrastructure;
    }
    process.stderr.write(`kph: ${describeError(e, verboseIn(argv))}\n`);
    return exitCodeForError(e);
  }
}

async function mainUnguarded(argv: string[]): Promise<number> {
  let prior: PriorRun | undefined;
  let owned: OwnedRunDir | undefined;
  const resumeDir = resumeTarget(argv);
  if (resumeDir !== undefined) ({ prior, owned } = claimPriorRun(argv, resumeDir));
  try {
    return await prepareAndRun(argv, prior, owned);
  } finally {
    owned?.release();
  }
}

async function prepareAndRun(argv: string[], prior: PriorRun | undefined, resumed: OwnedRunDir | undefined): Promise<number> {
  const prepared = await prepare(prior ? prior.manifest.argv : argv);
  if (typeof prepared === 'number') return prepared;
  const { opts, cells, profiles, plan } = prepared;
  if (opts.planOnly) { printPlan(cells); return EXIT.ok; }
  if (opts.oracleOnly) { printOraclePredictions(cells, profiles); return EXIT.ok; }

  // One lab per run: signals, a write failure of evidence (disk full: exit 3, every VM stopped).
  const lab = Lab.open({
    say: (s) => process.stderr.write(`kph: ${s}\n`),
    stopping: (sig) => `\nkph: ${sig}: stopping (again to force)\n`,
    interruptedExit: EXIT.interrupted,
    stopOnStorageFailure: true,
    provision,
  });
  try {
    // A new run gets a new, locked directory in the results folder (checked usable: exit 2 if not).
    const runId = prior?.manifest.runId ?? newRunId();
    const owned = resumed ?? createRunDir(opts.resultsDir ?? resultsRoot(), runId, opts.resultsDir !== undefined ? '--results' : process.env.KPH_RESULTS_DIR ? 'KPH_RESULTS_DIR' : 'the results folder');
    lab.defer(() => owned.release());
    return await runMain(lab, opts, cells, profiles, { argv: absoluteArgv(argv, process.cwd()), prior, runDir: owned.runDir, runId, plan });
  } finally {
    await lab.dispose();
  }
}
