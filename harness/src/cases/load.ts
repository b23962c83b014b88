// Reads case files: YAML with positions (duplicate keys are errors), validated with ajv
// against the schema, then checked for meaning (socket and destination indices, empty matrix).
// Only regular files are read (hidden ones, like editor lock files, are skipped), within a
// size limit and an alias-expansion limit; anything else is an error naming the path.
import fs from 'node:fs';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { isMap, isScalar, LineCounter, parseDocument, visit, type Document } from 'yaml';
import { InputError } from '../core/errors.js';
import { SourceError, SourceErrors } from '../core/source-error.js';
import { caseSchema } from './schema.js';

export interface CaseSocket {
  reuseaddr?: boolean; reuseport?: boolean; bind_address_no_port?: boolean; euid?: number;
  family?: 'inet' | 'inet6' | 'v4mapped'; addr?: 'loopback' | 'any'; v6only?: boolean;
}
export interface CaseDestination { family?: 'inet' | 'inet6'; reuseaddr?: boolean; port?: number }
export interface CaseFile {
  name: string;
  title: string;
  guests?: Array<'c' | 'ts'>;
  sockets: CaseSocket[];
  ops: string[];
  destinations?: CaseDestination[];
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
    case 'maximum': return `expected a number <= ${(e.params as { limit: number }).limit}`;
    case 'minimum': return `expected a number >= ${(e.params as { limit: number }).limit}`;
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

/** Largest case file read (a case is a few dozen lines; anything bigger is a mistake). */
export const MAX_CASE_FILE_BYTES = 1024 * 1024;
/** Aliases a case file may expand (yaml's guard against "billion laughs" documents). */
export const MAX_ALIAS_COUNT = 100;

/** A path as shown in messages: relative when under the working directory, else as given. */
function shownPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

/** The text of a case file that is a regular file (after symlinks) of sane size; SourceError otherwise. */
export function readCaseText(file: string): string {
  const shown = shownPath(file);
  const whole = (problem: string): SourceError => new SourceError(shown, 0, 0, '', problem);
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw whole('expected a YAML file, found a symbolic link loop');
    if (code === 'ENOENT') {
      let target = '';
      try { target = fs.readlinkSync(file); } catch { /* not a link */ }
      throw whole(target ? `expected a YAML file, found a dangling symbolic link to ${target}` : 'expected a YAML file, found nothing');
    }
    throw whole(`expected a readable YAML file: ${(e as Error).message}`);
  }
  if (st.isDirectory()) throw whole('expected a YAML file, found a folder');
  if (!st.isFile()) throw whole('expected a YAML file, found a special file');
  if (st.size > MAX_CASE_FILE_BYTES) throw whole(`expected a case file of at most ${MAX_CASE_FILE_BYTES} bytes, found ${st.size}`);
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw whole(`expected a readable YAML file: ${(e as Error).message}`);
  }
}

/** The document as plain data; an alias expansion beyond MAX_ALIAS_COUNT is a SourceError at the first alias. */
export function toData(doc: Document, lc: LineCounter, shown: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    if (!(e instanceof ReferenceError)) throw e;
    let offset = 0;
    visit(doc, { Alias(_, node) { offset = node.range?.[0] ?? 0; return visit.BREAK; } });
    const { line, col } = lc.linePos(offset);
    throw new SourceErrors([new SourceError(shown, line, col, '', `expected YAML aliases to expand to at most ${MAX_ALIAS_COUNT} nodes, found more (${e.message})`)]);
  }
}

/** Parses and validates one case file; throws SourceErrors naming every problem. */
export function loadCaseFile(file: string, text?: string): LoadedCase {
  const shown = shownPath(file);
  if (text === undefined) {
    try { text = readCaseText(file); } catch (e) {
      if (e instanceof SourceError) throw new SourceErrors([e]);
      throw e;
    }
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length) {
    const dups = duplicateKeys(doc, lc);
    throw new SourceErrors(doc.errors.map((e) => {
      if (e.code === 'DUPLICATE_KEY' && dups.length) {
        const d = dups.shift()!;
        return new SourceError(shown, d.line, d.col, d.key, `YAML duplicate key: ${JSON.stringify(d.key)} is already set above`);
      }
      const [pos] = e.linePos ?? [{ line: 1, col: 1 }];
      return new SourceError(shown, pos.line, pos.col, '', `YAML ${e.code === 'DUPLICATE_KEY' ? 'duplicate key' : 'syntax error'}: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`);
    }));
  }
  const data = toData(doc, lc, shown);
  if (!validate(data)) {
    const errs = (validate.errors ?? []).filter((e) => e.keyword !== 'if');
    throw new SourceErrors(errs.map((e) => {
      const p = segments(e.instancePath);
      const unknown = e.keyword === 'additionalProperties' ? (e.params as { additionalProperty: string }).additionalProperty : undefined;
      const pos = locate(doc, lc, p, unknown);
      const found = doc.getIn(p);
      const foundText = e.keyword === 'required' || unknown ? '' : `, found ${JSON.stringify(found)}`;
      return new SourceError(shown, pos.line, pos.col, keyName(unknown ? [...p, unknown] : p), `${expected(e)}${foundText}`);
    }));
  }
  const at = (keyPath: Array<string | number>): { line: number; col: number } => locate(doc, lc, keyPath);
  return { file: shown, data: data as CaseFile, at };
}

/** The names of a folder's case files: *.yaml / *.yml, not hidden (editor lock and swap files are). */
export function caseFileNames(dir: string): string[] {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(`case folder ${dir}: ${code === 'ENOENT' ? 'does not exist' : code === 'ELOOP' ? 'a symbolic link loop' : (e as Error).message}`, { file: dir });
  }
  if (!st.isDirectory()) throw new InputError(`case folder ${dir}: expected a folder of .yaml files, found a ${st.isFile() ? 'file (--cases takes the folder; use --case NAME to pick one case)' : 'special file'}`, { file: dir });
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    throw new InputError(`case folder ${dir}: cannot be read: ${(e as Error).message}`, { file: dir });
  }
  return names.filter((f) => !f.startsWith('.') && /\.ya?ml$/.test(f)).sort();
}

/** Loads every *.yaml / *.yml file of a folder, sorted by name; errors of all files together. */
export function loadCaseDir(dir: string): LoadedCase[] {
  const files = caseFileNames(dir);
  if (files.length === 0) throw new InputError(`case folder ${dir} holds no .yaml files`, { file: dir });
  const loaded: LoadedCase[] = [];
  const errors: SourceError[] = [];
  for (const f of files) {
    try { loaded.push(loadCaseFile(path.join(dir, f))); } catch (e) {
      if (e instanceof SourceErrors) errors.push(...e.errors); else throw e;
    }
  }
  if (errors.length) throw new SourceErrors(errors);
  return loaded;
}
