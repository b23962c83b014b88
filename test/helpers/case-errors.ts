// The errors (file:line:col: key: problem) the case loader and expander give for one case text,
// written as bad.yaml in a fresh folder; [] when it loads. Shared by the case-language tests.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expandCases } from '../../harness/src/cases/expand.js';
import { loadCaseDir } from '../../harness/src/cases/load.js';
import { SourceErrors } from '../../harness/src/core/source-error.js';

export function caseErrors(text: string): string[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-cases-'));
  fs.writeFileSync(path.join(dir, 'bad.yaml'), text);
  try {
    expandCases(loadCaseDir(dir));
  } catch (e) {
    if (e instanceof SourceErrors) return e.errors.map((x) => x.message.replace(/^[^:]*bad\.yaml/, 'bad.yaml'));
    throw e;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return [];
}
