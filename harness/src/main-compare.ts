// comparison.json and comparison.md: this run against the previous finished run of the same
// plan in the same results folder (new failures, fixes, still failing, flaky).
import fs from 'node:fs';
import path from 'node:path';
import { compareRuns, comparisonMarkdown, findPrevious } from './results/previous.js';
import type { ResultsDoc } from './results/results-doc.js';
import { writeJson, writeText } from './util/write.js';
import type { RunEvent } from './run/events.js';

/** Writes comparison.json/.md against the previous finished run of the same plan, if any. */
export async function compareWithPrevious(runDir: string, runId: string, argv: string[], emit: (e: RunEvent) => void): Promise<void> {
  const prev = findPrevious(path.dirname(runDir), runId, argv);
  if (!prev) return;
  const cur = JSON.parse(fs.readFileSync(path.join(runDir, 'results.json'), 'utf8')) as ResultsDoc;
  const c = compareRuns(path.basename(prev.dir), prev.doc, cur);
  await writeJson(runDir, 'comparison.json', c);
  await writeText(runDir, 'comparison.md', comparisonMarkdown(c));
  emit({ type: 'progress', scope: 'compare', message: `since ${c.previous}: ${c.newFailures.length} new failures, ${c.fixes.length} fixes, ${c.stillFailing.length} still failing, ${c.flaky.length} flaky` });
}
