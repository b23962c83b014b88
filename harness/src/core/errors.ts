// Typed errors that are not test results, and the one mapping from an error to an exit code.
// The user's input is wrong → InputError (exit 2); the harness itself is wrong → HarnessBug or
// any unexpected exception (exit 4). Callers test `instanceof`, never the message text.

import { EXIT } from './verdict.js';

/** Exit code of an input error (README "Exit codes"). */
export const EXIT_INPUT = EXIT.usage;
/** Exit code of a harness bug or an unexpected exception. */
export const EXIT_HARNESS_BUG = EXIT.internal;

/** Where in a file an input error is, when it is in one. */
export interface InputPlace { file?: string; line?: number; col?: number; key?: string }

/** The user's input is wrong (an option, a case file, a kernel description, a missing package): exit 2. */
export class InputError extends Error {
  override name = 'InputError';
  readonly kind = 'input' as const;
  readonly place: InputPlace;
  constructor(message: string, place: InputPlace = {}, options?: ErrorOptions) {
    super(message, options);
    this.place = place;
  }
}

/** The harness contradicts itself (e.g. the oracle threw): exit 4, never a test result. */
export class HarnessBug extends Error {
  override name = 'HarnessBug';
  readonly kind = 'harness-bug' as const;
}

/** The exit code for an error that is not a test result: 2 for the input, 4 for anything else. */
export function exitCodeForError(e: unknown): typeof EXIT_INPUT | typeof EXIT_HARNESS_BUG {
  return e instanceof InputError ? EXIT_INPUT : EXIT_HARNESS_BUG;
}

/**
 * What to print for an error: its message for an input error; for anything else one line
 * ("internal error: …") and, only when `verbose`, the stack.
 */
export function describeError(e: unknown, verbose: boolean): string {
  if (e instanceof InputError) return e.message;
  const err = e instanceof Error ? e : new Error(String(e));
  const first = err.message.split('\n')[0];
  const head = `internal error: ${err.name === 'Error' || err.name === 'HarnessBug' ? '' : `${err.name}: `}${first}`;
  return verbose ? `${head}\n${err.stack ?? ''}` : `${head} (run with -v for the stack)`;
}

/** Is the verbose flag among raw arguments (before they are parsed, for errors thrown while parsing)? */
export function verboseIn(argv: readonly string[]): boolean {
  return argv.includes('-v') || argv.includes('--verbose');
}
