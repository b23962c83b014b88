// An error in an input file (a case file, a kernel description): the file, line and column,
// the key, what was expected and what was found (line 0: about the file as a whole, e.g. a
// folder named x.yaml). Both classes are input errors (exit 2).
import { InputError } from './errors.js';

/** What a key should have held and what it held, for a message "expected …, found …". */
export interface Expectation { expected: string; found: string }

export class SourceError extends InputError {
  override name = 'SourceError';
  /** The whole problem as shown after "file:line:col: key: ". */
  readonly problem: string;
  /** Set when the problem was given as expected/found. */
  readonly expected?: string;
  readonly found?: string;
  constructor(
    readonly file: string,
    readonly line: number,
    readonly col: number,
    readonly key: string,
    problem: string | Expectation,
  ) {
    const text = typeof problem === 'string' ? problem : `expected ${problem.expected}, found ${problem.found}`;
    super(`${line > 0 ? `${file}:${line}:${col}` : file}: ${key ? `${key}: ` : ''}${text}`, line > 0 ? { file, line, col, key } : { file });
    this.problem = text;
    if (typeof problem !== 'string') {
      this.expected = problem.expected;
      this.found = problem.found;
    }
  }
}

/** Several errors at once, so a user fixes a file in one pass. */
export class SourceErrors extends InputError {
  override name = 'SourceErrors';
  constructor(readonly errors: SourceError[]) {
    super(errors.map((e) => e.message).join('\n'), errors[0]?.place ?? {});
  }
}
