// Kernel descriptions (kernels/<name>.yaml): which source, patches, fragment, localversion and
// oracle profile make a kernel. YAML with positions (duplicate keys are errors), validated with
// ajv, then checked for meaning; every error names file:line:col and the key. The keys under
// `source:` belong to the source kinds (kinds.ts). kernels/README.md documents each key.
import fs from 'node:fs';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { isMap, isScalar, LineCounter, parseDocument, visit, type Document } from 'yaml';
import { SourceError, SourceErrors } from '../core/source-error.js';
import { readCaseText, toData } from '../cases/load.js';
import { InputError } from '../core/errors.js';
import { PROFILES } from '../oracle/index.js';
import { projectRoot } from '../util/paths.js';
import { DEFAULT_FRAGMENT } from './keys.js';
import { SOURCE_KINDS, type SourceDescription } from './kinds.js';
import { expandPath, type RawSource } from './source.js';

export interface KernelSpec {
  /** The description file (as given, for messages). */
  file: string;
  name: string;
  profile: string;
  source: SourceDescription;
  /** Built kernels only. */
  localversion?: string;
  /** Absolute paths, in order (built kernels only). */
  patches: string[];
  /** Absolute path (built kernels only). */
  fragment: string;
}

/** The checkout's folder of kernel descriptions. */
export const KERNELS_DIR = path.join(projectRoot, 'kernels');

const pathString = { type: 'string', minLength: 1 };
const patchList = { type: 'array', items: pathString };
const kindNames = (): string => SOURCE_KINDS.map((k) => k.kind).join(', ').replace(/, ([^,]*)$/, ' or $1');

export const kernelSpecSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'source', 'profile'],
  properties: {
    name: { type: 'string', pattern: '^[a-z0-9][a-z0-9.-]*$' },
    description: { type: 'string' },
    source: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: { ...Object.assign({}, ...SOURCE_KINDS.map((k) => k.keys)), patches: patchList },
    },
    localversion: { type: 'string', pattern: '^[A-Za-z0-9._+-]*$' },
    ...Object.assign({}, ...SOURCE_KINDS.map((k) => k.topKeys ?? {})),
    profile: { enum: Object.keys(PROFILES) },
    patches: patchList,
    fragment: pathString,
  },
} as const;

interface RawSpec {
  name: string;
  description?: string;
  source: RawSource;
  localversion?: string;
  release?: string;
  profile: string;
  patches?: string[];
  fragment?: string;
}

const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(kernelSpecSchema);

type KeyPath = Array<string | number>;

function describeExpected(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'enum': return `expected one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'pattern': return `expected a string matching ${String(p.pattern)}`;
    case 'type': return `expected ${String(p.type)}`;
    case 'minLength': return 'expected a non-empty string';
    case 'minProperties': return `expected one of ${kindNames()}`;
    case 'required': return `expected the key ${JSON.stringify(p.missingProperty)}`;
    case 'additionalProperties': return 'expected no such key (kernels/README.md lists the keys)';
    default: return `expected ${e.message ?? e.keyword}`;
  }
}

/** The node at keyPath, or the key node itself when `key` names a key of that map. */
function position(doc: Document, lc: LineCounter, keyPath: KeyPath, key?: string): { line: number; col: number } {
  let node: unknown;
  if (key !== undefined) {
    const map = keyPath.length ? doc.getIn(keyPath, true) : doc.contents;
    if (isMap(map)) node = map.items.find((p) => isScalar(p.key) && p.key.value === key)?.key;
  }
  for (let i = keyPath.length; !(node as { range?: unknown })?.range && i >= 0; i--) {
    node = i === 0 ? doc.contents : doc.getIn(keyPath.slice(0, i), true);
  }
  return lc.linePos((node as { range?: [number] } | undefined)?.range?.[0] ?? 0);
}

const keyText = (p: KeyPath): string => p.map((s, i) => (typeof s === 'number' ? `[${s}]` : i ? `.${s}` : s)).join('');
const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));

/** Every key that repeats one earlier in the same map (its second and later occurrences), in document order. */
function repeatedKeys(doc: Document): Array<{ key: string; offset: number }> {
  const out: Array<{ key: string; offset: number }> = [];
  visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const item of map.items) {
        if (!isScalar(item.key)) continue;
        if (seen.has(item.key.value)) out.push({ key: String(item.key.value), offset: item.key.range?.[0] ?? 0 });
        seen.add(item.key.value);
      }
    },
  });
  return out;
}

/** Parses, validates and resolves one kernel description; throws SourceErrors naming every problem. */
export function loadKernelSpec(file: string, text?: string): KernelSpec {
  const rel = path.relative(process.cwd(), file);
  const shown = rel && !rel.startsWith('..') ? rel : file;
  if (text === undefined) {
    try { text = readCaseText(file); } catch (e) {
      if (e instanceof SourceError) throw new SourceErrors([e]);
      throw e;
    }
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const errors: SourceError[] = [];
  const fail = (keyPath: KeyPath, problem: string, key?: string): void => {
    const at = position(doc, lc, keyPath, key);
    errors.push(new SourceError(shown, at.line, at.col, keyText(key !== undefined ? [...keyPath, key] : keyPath), problem));
  };
  if (doc.errors.length) {
    const repeated = repeatedKeys(doc);
    throw new SourceErrors(doc.errors.map((e) => {
      const dup = e.code === 'DUPLICATE_KEY' ? repeated.shift() : undefined;
      if (dup) {
        const at = lc.linePos(dup.offset);
        return new SourceError(shown, at.line, at.col, dup.key, `YAML duplicate key: ${JSON.stringify(dup.key)} is already set above`);
      }
      const [pos] = e.linePos ?? [{ line: 1, col: 1 }];
      return new SourceError(shown, pos.line, pos.col, '', `YAML syntax error: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`);
    }));
  }
  const data = toData(doc, lc, shown);
  if (!validate(data)) {
    for (const e of validate.errors ?? []) {
      const p = e.instancePath.split('/').slice(1).map((s) => (/^\d+$/.test(s) ? Number(s) : s.replace(/~1/g, '/').replace(/~0/g, '~')));
      if (e.keyword === 'additionalProperties') fail(p, describeExpected(e), (e.params as { additionalProperty: string }).additionalProperty);
      else if (e.keyword === 'required') fail(p, `${describeExpected(e)}, found ${show(undefined)}`);
      else fail(p, `${describeExpected(e)}, found ${show(doc.getIn(p))}`);
    }
    throw new SourceErrors(errors);
  }
  const raw = data as unknown as RawSpec;
  const base = path.dirname(path.resolve(file));
  const expected = path.basename(file).replace(/\.ya?ml$/, '');
  if (raw.name !== expected) fail(['name'], `expected the file's own name ${JSON.stringify(expected)} (kernels are selected by file name), found ${show(raw.name)}`);

  const kinds = SOURCE_KINDS.filter((k) => raw.source[k.kind] !== undefined);
  if (kinds.length !== 1) fail(['source'], `expected exactly one of ${kindNames()}, found ${kinds.length ? kinds.map((k) => k.kind).join(' and ') : 'none'}`);
  const kind = kinds[0];
  // Keys another kind owns: under source: (e.g. git's ref) and at the top (e.g. bzImage's release).
  for (const other of SOURCE_KINDS.filter((k) => k !== kind)) {
    for (const key of Object.keys(other.keys).slice(1)) if (raw.source[key] !== undefined) fail(['source'], `expected ${key} only with ${other.kind}, found it without`, key);
    for (const key of Object.keys(other.topKeys ?? {})) if ((raw as unknown as Record<string, unknown>)[key] !== undefined) fail([], `expected ${key} only with ${other.kind}`, key);
  }
  if (raw.source.patches && raw.patches) fail(['source'], 'expected patches in one place (here or at the top level), found both', 'patches');
  const built = kind?.built !== false;
  if (built && raw.localversion === undefined) fail([], 'expected the key "localversion" for a kernel that is built (uname -r ends with it), found nothing');
  if (!built) {
    for (const k of ['localversion', 'patches', 'fragment'] as const) if (raw[k] !== undefined) fail([], `expected no ${k} for a prebuilt ${kind.kind}, found ${show(raw[k])}`, k);
    if (raw.source.patches) fail(['source'], `expected no patches for a prebuilt ${kind.kind}`, 'patches');
  }

  const patchKey: KeyPath = raw.source.patches ? ['source', 'patches'] : ['patches'];
  const patches = (raw.source.patches ?? raw.patches ?? []).map((p, i) => {
    const abs = expandPath(p, base);
    if (!fs.existsSync(abs)) fail([...patchKey, i], `expected an existing patch file, found ${show(p)} (${abs} does not exist)`);
    return abs;
  });
  const fragment = raw.fragment !== undefined ? expandPath(raw.fragment, base) : DEFAULT_FRAGMENT;
  if (raw.fragment !== undefined && !fs.existsSync(fragment)) fail(['fragment'], `expected an existing Kconfig fragment, found ${show(raw.fragment)} (${fragment} does not exist)`);

  const source = kind?.resolve(raw.source, raw as unknown as Record<string, unknown>, base, fail) as SourceDescription | undefined;
  if (errors.length) throw new SourceErrors(errors);
  return { file: shown, name: raw.name, profile: raw.profile, source: source!, localversion: raw.localversion, patches, fragment };
}

/** Names of the descriptions in a folder (file names without .yaml). */
export function knownKernels(dir = KERNELS_DIR): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => !f.startsWith('.') && /\.ya?ml$/.test(f)).map((f) => f.replace(/\.ya?ml$/, '')).sort() : [];
}

/**
 * Loads the descriptions named on the command line: a name is kernels/<name>.yaml, a path
 * (with a slash, or ending in .yaml) is that file. Errors of every file together.
 */
export function loadKernelSpecs(names: readonly string[], dir = KERNELS_DIR): KernelSpec[] {
  if (names.length === 0) throw new InputError('--kernels: expected at least one kernel name');
  const specs: KernelSpec[] = [];
  const errors: SourceError[] = [];
  for (const n of names) {
    const isPath = n.includes('/') || /\.ya?ml$/.test(n);
    const file = isPath ? path.resolve(n) : ['.yaml', '.yml'].map((e) => path.join(dir, n + e)).find((f) => fs.existsSync(f));
    if (!file || !fs.existsSync(file)) {
      throw new InputError(`--kernels ${n}: no such kernel description${isPath ? '' : ` in ${dir}`}; known: ${knownKernels(dir).join(', ') || 'none'}`);
    }
    try { specs.push(loadKernelSpec(file)); } catch (e) {
      if (e instanceof SourceErrors) errors.push(...e.errors); else throw e;
    }
  }
  if (errors.length) throw new SourceErrors(errors);
  const seen = new Set<string>();
  for (const s of specs) {
    if (seen.has(s.name)) throw new InputError(`--kernels: ${s.name} is listed twice`);
    seen.add(s.name);
  }
  return specs;
}
