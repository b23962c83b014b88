// A case-file error that names the file, line and column, the key, what was expected and
// what was found.
export class CaseFileError extends Error {
  override name = 'CaseFileError';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly col: number,
    readonly key: string,
    readonly problem: string,
  ) {
    super(`${file}:${line}:${col}: ${key ? `${key}: ` : ''}${problem}`);
  }
}

/** Several errors at once, so a user fixes a file in one pass. */
export class CaseFileErrors extends Error {
  override name = 'CaseFileErrors';
  constructor(readonly errors: CaseFileError[]) {
    super(errors.map((e) => e.message).join('\n'));
  }
}
