// Night-to-night: compares a run with the previous finished run of the same plan (new
// failures, fixes, still failing, flaky, cells added or removed).
import fs from 'node:fs';
import path from 'node:path';
import type { ResultsDoc } from './run-files.js';

type Rec = ResultsDoc['records'][number];
const bad = (o: string): boolean => o === 'FAIL' || o === 'ERROR' || o === 'MISS';
const key = (r: Rec): string => `${r.kernel}/${r.guest}/${r.id}`;

export interface RunComparison {
  previous: string;
  newFailures: Array<{ key: string; was: string; now: string; reason: string }>;
  fixes: Array<{ key: string; was: string; now: string }>;
  stillFailing: string[];
  flaky: string[];
  added: number;
  removed: number;
}

/** Pure comparison of two runs' records. */
export function compareRuns(previousId: string, prev: ResultsDoc, cur: ResultsDoc): RunComparison {
  const before = new Map(prev.records.map((r) => [key(r), r]));
  const now = new Map(cur.records.map((r) => [key(r), r]));
  const c: RunComparison = { previous: previousId, newFailures: [], fixes: [], stillFailing: [], flaky: [], added: 0, removed: 0 };
  for (const [k, r] of now) {
    if ((r as Rec & { flaky?: boolean }).flaky) c.flaky.push(k);
    const p = before.get(k);
    if (!p) { c.added++; continue; }
    if (bad(r.outcome) && !bad(p.outcome)) c.newFailures.push({ key: k, was: p.outcome, now: r.outcome, reason: r.reason });
    else if (!bad(r.outcome) && bad(p.outcome)) c.fixes.push({ key: k, was: p.outcome, now: r.outcome });
    else if (bad(r.outcome)) c.stillFailing.push(k);
  }
  for (const k of before.keys()) if (!now.has(k)) c.removed++;
  return c;
}

/** The newest finished run in `root` (other than `runId`) started with the same options. */
export function findPrevious(root: string, runId: string, argv: string[]): { dir: string; doc: ResultsDoc } | undefined {
  if (!fs.existsSync(root)) return undefined;
  const same = (a: string[], b: string[]): boolean => JSON.stringify(stripPlace(a)) === JSON.stringify(stripPlace(b));
  for (const name of fs.readdirSync(root).sort().reverse()) {
    if (name >= runId) continue;
    const dir = path.join(root, name);
    try {
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8')) as { argv: string[] };
      const doc = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')) as ResultsDoc;
      if (doc.complete && Array.isArray(doc.records) && same(manifest.argv, argv)) return { dir, doc };
    } catch { /* not a finished run */ }
  }
  return undefined;
}

/** Options that do not change the plan (where results go, flips for self-tests stay). */
function stripPlace(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--results' || argv[i] === '--jobs') { i++; continue; }
    if (argv[i].startsWith('--results=') || argv[i].startsWith('--jobs=')) continue;
    out.push(argv[i]);
  }
  return out;
}

/** Markdown for comparison.md. */
export function comparisonMarkdown(c: RunComparison): string {
  const list = (title: string, items: string[]): string[] => (items.length ? [`## ${title} (${items.length})`, '', ...items.slice(0, 200).map((x) => `- ${x}`), ''] : []);
  return [
    `# Compared with ${c.previous}`,
    '',
    `${c.newFailures.length} new failures, ${c.fixes.length} fixes, ${c.stillFailing.length} still failing, ${c.flaky.length} flaky, ${c.added} cells added, ${c.removed} removed.`,
    '',
    ...list('New failures', c.newFailures.map((x) => `\`${x.key}\`: ${x.was} → ${x.now}: ${x.reason}`)),
    ...list('Fixes', c.fixes.map((x) => `\`${x.key}\`: ${x.was} → ${x.now}`)),
    ...list('Still failing', c.stillFailing.map((x) => `\`${x}\``)),
    ...list('Flaky (passed on a retry)', c.flaky.map((x) => `\`${x}\``)),
  ].join('\n');
}
