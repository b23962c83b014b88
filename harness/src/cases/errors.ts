// A case-file error that names the file, line and column, the key, what was expected and
// what was found (line 0: about the file as a whole, e.g. a folder named x.yaml). Both
// classes are input errors (exit 2).
import { InputError } from '../core/errors.js';

export class CaseFileError extends InputError {
  override name = 'CaseFileError';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly col: number,
    readonly key: string,
    readonly problem: string,
  ) {
    super(`${line > 0 ? `${file}:${line}:${col}` : file}: ${key ? `${key}: ` : ''}${problem}`, line > 0 ? { file, line, col, key } : { file });
  }
}

/** Several errors at once, so a user fixes a file in one pass. */
export class CaseFileErrors extends InputError {
  override name = 'CaseFileErrors';
  constructor(readonly errors: CaseFileError[]) {
    super(errors.map((e) => e.message).join('\n'), errors[0]?.place ?? {});
  }
}
