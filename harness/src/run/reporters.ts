// The reporters (consumers of the run's event stream), by name: an entry point asks for names and
// gets them made for its run. Adding a reporter is one file in run/reporters/ plus one line in
// REPORTERS below.
import path from 'node:path';
import type { Reporter } from './events.js';
import { eventLogReporter } from './reporters/event-log.js';
import { progressReporter } from './reporters/progress.js';
import { terminalReporter, type TerminalLevel } from './reporters/terminal.js';

export { eventLogReporter } from './reporters/event-log.js';
export { progressReporter, type ProgressOptions } from './reporters/progress.js';
export { terminalReporter, type TerminalLevel } from './reporters/terminal.js';

/** What a reporter may need of its run. */
export interface ReporterContext {
  /** The run's (or step's) directory. */
  runDir: string;
  /** -q / -v. */
  verbosity: TerminalLevel;
  /** Where human lines go (stderr). */
  out: NodeJS.WritableStream;
}

/** Name → factory; a factory may decline (undefined) for this run, e.g. progress under -q. */
export const REPORTERS: Readonly<Record<string, (c: ReporterContext) => Reporter | undefined>> = {
  terminal: (c) => terminalReporter(c.out, c.verbosity),
  progress: (c) => (c.verbosity === 'quiet' ? undefined : progressReporter(c.out)),
  'event-log': (c) => eventLogReporter(path.join(c.runDir, 'events.jsonl')),
};

/** The named reporters for a run, in the order named. */
export function createReporters(names: readonly string[], c: ReporterContext): Reporter[] {
  return names.flatMap((n) => {
    const make = REPORTERS[n];
    if (!make) throw new Error(`no reporter named ${JSON.stringify(n)} (known: ${Object.keys(REPORTERS).join(', ')})`);
    const r = make(c);
    return r ? [r] : [];
  });
}
