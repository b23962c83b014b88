// Numeric option values, checked with an error that names the option and what it received.
export type UsageErrorClass = new (message: string) => Error;

/** `--name N` as a positive integer (default when absent). */
export function positiveInt(Err: UsageErrorClass, name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Err(`--${name} expects a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

/** `--name X` as a positive number (undefined when absent). */
export function positiveNumber(Err: UsageErrorClass, name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Err(`--${name} expects a positive number, got ${JSON.stringify(v)}`);
  return n;
}
