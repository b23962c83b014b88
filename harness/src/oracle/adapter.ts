// Connects the pure oracle to the run: profile names → flags (optionally flipped for a
// self-test), a predict call that turns an exception into an 'oracle-error' answer, and the
// comparison the verdict uses (is the observation possible under the same flags?).
import type { Cell, OpResult } from '../core/cell.js';
import type { CompareContext, Comparison, OracleAnswer } from '../core/verdict.js';
import { inapplicable, PROFILES, predict, type ProfileFlags, type ProfileName } from './index.js';
import { checkPossible } from './possible.js';
import { InputError } from '../core/errors.js';
import { oracleFault } from '../util/fault.js';

export type ProfileTable = Record<string, ProfileFlags>;

/** The profile table with each named flag toggled in every profile. */
export function flippedProfiles(flags: readonly string[]): ProfileTable {
  const table: ProfileTable = {};
  for (const [name, f] of Object.entries(PROFILES)) table[name] = { ...f };
  for (const flag of flags) {
    if (!(flag in PROFILES['4b01a967+followup'])) {
      throw new InputError(`--oracle-flip ${flag}: no such profile flag; known: ${Object.keys(PROFILES['4b01a967+followup']).join(', ')}`);
    }
    for (const p of Object.values(table)) (p as unknown as Record<string, boolean>)[flag] = !(p as unknown as Record<string, boolean>)[flag];
  }
  return table;
}

/** The oracle's answer for a cell on a kernel profile; never throws. */
export function oracleAnswer(cell: Cell, profile: string, table: ProfileTable): OracleAnswer {
  const flags = table[profile as ProfileName];
  if (!flags) return { kind: 'oracle-error', message: `unknown oracle profile ${JSON.stringify(profile)}` };
  try {
    // The fault seam (util/fault.ts): KPH_FAULT=oracle@<cell id> makes the oracle throw for that cell.
    if (oracleFault(cell.id)) throw new Error(`KPH_FAULT oracle@: injected oracle failure for ${cell.id}`);
    const v = predict(cell, flags, profile);
    return v.kind === 'predicted' ? { kind: 'predicted', profile, ops: v.ops, ...(v.enoent ? { enoent: v.enoent } : {}) } : v;
  } catch (e) {
    return { kind: 'oracle-error', message: (e as Error).stack ?? String(e) };
  }
}

/**
 * The comparison for classify(): PASS when the model allows the observation (possible.ts), FAIL
 * naming the op, the rule and what was possible when it does not. The predicted results (the
 * likeliest path, for display) are not needed: the replay decides.
 */
export function possibleComparer(table: ProfileTable): (observed: OpResult[], predicted: OpResult[], range: readonly [number, number], ctx: CompareContext) => Comparison {
  return (observed, _predicted, _range, ctx) => {
    const flags = table[ctx.profile];
    if (!flags) return { match: false, firstMismatch: { index: 0, reason: `harness bug: unknown oracle profile ${JSON.stringify(ctx.profile)}` } };
    let r: ReturnType<typeof checkPossible>;
    try {
      r = checkPossible(ctx.cell, flags, observed, ctx.view);
    } catch (e) {
      return { match: false, firstMismatch: { index: 0, reason: `harness bug: the oracle's replay threw: ${(e as Error).stack ?? String(e)}` } };
    }
    if (r.possible) return { match: true, ...(r.unlikely ? { unlikely: r.unlikely } : {}) };
    return { match: false, firstMismatch: { index: r.index, reason: r.reason, ...(r.rule ? { rule: r.rule } : {}) } };
  };
}

/** Why the oracle would answer not-applicable for a cell on a profile, without simulating it; null when it applies (or the profile is unknown: the oracle error shows later). */
export function notApplicable(cell: Cell, profile: string, table: ProfileTable): string | null {
  const flags = table[profile as ProfileName];
  return flags ? inapplicable(cell, flags) : null;
}
