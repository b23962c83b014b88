// Reads case files: YAML with positions (duplicate keys are errors), validated with ajv
// against the schema, then checked for meaning (socket and destination indices, empty matrix).
import fs from 'node:fs';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { isMap, isScalar, LineCounter, parseDocument, visit, type Document } from 'yaml';
import { CaseFileError, CaseFileErrors } from './errors.js';
import { caseSchema } from './schema.js';

export interface CaseSocket { reuseaddr?: boolean; reuseport?: boolean; bind_address_no_port?: boolean; euid?: number }
export interface CaseFile {
  name: string;
  title: string;
  guests?: Array<'c' | 'ts'>;
  sockets: CaseSocket[];
  ops: string[];
  matrix?: Record<string, Array<string | number | boolean>>;
  exclude?: Array<Record<string, string | number | boolean>>;
  /** Kernel selftests (tools/testing/selftests DIR/NAME) to build from the kernel under test and run beside the case. */
  selftests?: string[];
}

export interface LoadedCase { file: string; data: CaseFile; at: (keyPath: Array<string | number>) => { line: number; col: number } }

const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(caseSchema);

/** Human text for one ajv error: what was expected. */
function expected(e: ErrorObject): string {
  switch (e.keyword) {
    case 'enum': return `expected one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'pattern': return `expected a string matching ${(e.params as { pattern: string }).pattern}`;
    case 'type': return `expected ${(e.params as { type: string | string[] }).type}`;
    case 'required': return `missing required key ${JSON.stringify((e.params as { missingProperty: string }).missingProperty)}`;
    case 'additionalProperties': return `unknown key ${JSON.stringify((e.params as { additionalProperty: string }).additionalProperty)} (see cases/README.md for the keys)`;
    default: return e.message ?? e.keyword;
  }
}

/** Position of the node at keyPath (or of the key itself when it is unknown). */
function locate(doc: Document, lc: LineCounter, keyPath: Array<string | number>, unknownKey?: string): { line: number; col: number } {
  let node = doc.getIn(keyPath, true) as { range?: [number, number, number] } | undefined;
  if (unknownKey !== undefined) {
    const map = (keyPath.length ? doc.getIn(keyPath, true) : doc.contents) as unknown;
    if (isMap(map)) {
      const pair = map.items.find((p) => isScalar(p.key) && p.key.value === unknownKey);
      if (pair && isScalar(pair.key)) node = pair.key as { range?: [number, number, number] };
    }
  }
  for (let i = keyPath.length; !node?.range && i >= 0; i--) node = (i === 0 ? doc.contents : doc.getIn(keyPath.slice(0, i), true)) as typeof node;
  const offset = node?.range?.[0] ?? 0;
  return lc.linePos(offset);
}

const segments = (instancePath: string): Array<string | number> =>
  instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')).map((s) => (/^\d+$/.test(s) ? Number(s) : s));

const keyName = (p: Array<string | number>): string => p.map((s, i) => (typeof s === 'number' ? `[${s}]` : i ? `.${s}` : s)).join('');

/** Positions of every repeated key (the second and later occurrences), in document order. */
function duplicateKeys(doc: Document, lc: LineCounter): Array<{ key: string; line: number; col: number }> {
  const found: Array<{ key: string; line: number; col: number }> = [];
  visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const p of map.items) {
        if (!isScalar(p.key)) continue;
        if (seen.has(p.key.value)) found.push({ key: String(p.key.value), ...lc.linePos(p.key.range?.[0] ?? 0) });
        seen.add(p.key.value);
      }
    },
  });
  return found;
}

/** Parses and validates one case file; throws CaseFileErrors naming every problem. */
export function loadCaseFile(file: string, text = fs.readFileSync(file, 'utf8')): LoadedCase {
  const shown = path.relative(process.cwd(), file) || file;
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length) {
    const dups = duplicateKeys(doc, lc);
    throw new CaseFileErrors(doc.errors.map((e) => {
      if (e.code === 'DUPLICATE_KEY' && dups.length) {
        const d = dups.shift()!;
        return new CaseFileError(shown, d.line, d.col, d.key, `YAML duplicate key: ${JSON.stringify(d.key)} is already set above`);
      }
      const [pos] = e.linePos ?? [{ line: 1, col: 1 }];
      return new CaseFileError(shown, pos.line, pos.col, '', `YAML ${e.code === 'DUPLICATE_KEY' ? 'duplicate key' : 'syntax error'}: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`);
    }));
  }
  const data = doc.toJS() as unknown;
  if (!validate(data)) {
    const errs = (validate.errors ?? []).filter((e) => e.keyword !== 'if');
    throw new CaseFileErrors(errs.map((e) => {
      const p = segments(e.instancePath);
      const unknown = e.keyword === 'additionalProperties' ? (e.params as { additionalProperty: string }).additionalProperty : undefined;
      const pos = locate(doc, lc, p, unknown);
      const found = doc.getIn(p);
      const foundText = e.keyword === 'required' || unknown ? '' : `, found ${JSON.stringify(found)}`;
      return new CaseFileError(shown, pos.line, pos.col, keyName(unknown ? [...p, unknown] : p), `${expected(e)}${foundText}`);
    }));
  }
  const at = (keyPath: Array<string | number>): { line: number; col: number } => locate(doc, lc, keyPath);
  return { file: shown, data: data as CaseFile, at };
}

/** Loads every *.yaml / *.yml file of a folder, sorted by name; errors of all files together. */
export function loadCaseDir(dir: string): LoadedCase[] {
  if (!fs.existsSync(dir)) throw new Error(`case folder ${dir} does not exist`);
  const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  if (files.length === 0) throw new Error(`case folder ${dir} holds no .yaml files`);
  const loaded: LoadedCase[] = [];
  const errors: CaseFileError[] = [];
  for (const f of files) {
    try { loaded.push(loadCaseFile(path.join(dir, f))); } catch (e) {
      if (e instanceof CaseFileErrors) errors.push(...e.errors); else throw e;
    }
  }
  if (errors.length) throw new CaseFileErrors(errors);
  return loaded;
}
