// Numeric option values: plain decimal digits only (no "1e3", "0x10", "", " 2"), in a stated
// range, with an error that names the option, the value received and the range.
export type UsageErrorClass = new (message: string) => Error;

export interface NumberRange { min: number; max: number }

const INTEGER = /^[0-9]+$/;
const DECIMAL = /^[0-9]+(\.[0-9]+)?$/;

/** "1 to 64" / "0.1 to 100" with thousands separated, for messages. */
function rangeText(r: NumberRange): string {
  return `${r.min.toLocaleString('en-US')} to ${r.max.toLocaleString('en-US')}`;
}

/** `--name N`: a decimal integer in [min, max] (default when absent). */
export function intOption(Err: UsageErrorClass, name: string, v: string | undefined, range: NumberRange, dflt: number): number;
export function intOption(Err: UsageErrorClass, name: string, v: string | undefined, range: NumberRange): number | undefined;
export function intOption(Err: UsageErrorClass, name: string, v: string | undefined, range: NumberRange, dflt?: number): number | undefined {
  if (v === undefined) return dflt;
  const n = INTEGER.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < range.min || n > range.max) {
    throw new Err(`--${name} expects an integer from ${rangeText(range)} (decimal digits only), got ${JSON.stringify(v)}`);
  }
  return n;
}

/** `--name X`: a decimal number (digits, optionally a fraction) in [min, max]; undefined when absent. */
export function decimalOption(Err: UsageErrorClass, name: string, v: string | undefined, range: NumberRange): number | undefined {
  if (v === undefined) return undefined;
  const n = DECIMAL.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n) || n < range.min || n > range.max) {
    throw new Err(`--${name} expects a number from ${rangeText(range)} (decimal digits, e.g. 2 or 1.5), got ${JSON.stringify(v)}`);
  }
  return n;
}

/** Ranges shared by the main job and bisect. */
export const RANGES = {
  jobs: { min: 1, max: 64 },
  bootAttempts: { min: 1, max: 10 },
  timeoutScale: { min: 0.1, max: 100 },
  repeat: { min: 1, max: 100 },
  maxCells: { min: 1, max: 10_000_000 },
  shardCount: { min: 1, max: 10_000 },
} as const satisfies Record<string, NumberRange>;

/** The default limit on the number of cells in a plan (--max-cells). */
export const DEFAULT_MAX_CELLS = 100_000;
