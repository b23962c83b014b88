// A tolerant KTAP v1 / TAP 13 parser (Documentation/dev-tools/ktap.rst): version lines, plans,
// `ok`/`not ok` results with directives, `#` diagnostics attached to the next result, nested
// subtests by indentation; any other line (interleaved kernel messages) is ignored.

export interface KtapResult {
  number: number;
  name: string;
  ok: boolean;
  /** SKIP, TODO, XFAIL, TIMEOUT, ERROR … with its text. */
  directive?: { kind: string; text: string };
  /** `#` lines seen since the previous result at this level. */
  diagnostics: string[];
  subtests: KtapResult[];
}

export interface KtapDocument { planned?: number; results: KtapResult[] }

const RESULT = /^(not ok|ok)\s+(\d+)\s*(?:-\s*)?([^#]*?)\s*(?:#\s*(.*))?$/;
const PLAN = /^1\.\.(\d+)/;

/** Parses KTAP text into results (top level), with nested subtests. */
export function parseKtap(text: string): KtapDocument {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  const top = parseLevel(lines, 0, 0);
  return { planned: top.planned, results: top.results };
}

function indentOf(line: string): number {
  return line.length - line.trimStart().length;
}

function parseLevel(lines: string[], start: number, indent: number): { results: KtapResult[]; planned?: number; next: number } {
  const results: KtapResult[] = [];
  let planned: number | undefined;
  let diagnostics: string[] = [];
  let pendingSub: KtapResult[] = [];
  let i = start;
  while (i < lines.length) {
    const raw = lines[i];
    const line = raw.trim();
    const ind = indentOf(raw);
    if (!line) { i++; continue; }
    if (ind < indent && (RESULT.test(line) || PLAN.test(line) || /^(K?TAP) version/.test(line))) break;
    if (ind > indent && /^(K?TAP version|1\.\.\d+|# Subtest:)/.test(line)) {
      const sub = parseLevel(lines, i, ind);
      pendingSub = sub.results;
      i = sub.next;
      continue;
    }
    if (ind !== indent) { i++; continue; }
    const plan = PLAN.exec(line);
    const m = RESULT.exec(line);
    if (plan) planned = Number(plan[1]);
    else if (m) {
      const dir = m[4] ? /^(\w+)\s*(.*)$/.exec(m[4]) : null;
      results.push({
        number: Number(m[2]),
        name: m[3].trim(),
        ok: m[1] === 'ok',
        ...(dir ? { directive: { kind: dir[1].toUpperCase(), text: dir[2] } } : {}),
        diagnostics,
        subtests: pendingSub,
      });
      diagnostics = [];
      pendingSub = [];
    } else if (line.startsWith('#')) diagnostics.push(line.replace(/^#\s?/, ''));
    i++;
  }
  return { results, planned, next: i };
}

/** A result's verdict: SKIP directives count as skipped, not failed. */
export function verdictOf(r: KtapResult): 'pass' | 'fail' | 'skip' {
  if (r.directive?.kind === 'SKIP') return 'skip';
  return r.ok ? 'pass' : 'fail';
}
