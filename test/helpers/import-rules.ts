// The import-rules checker behind test/unit/import-rules.test.ts: reads every relative import
// of the .ts files under a folder, and checks them against a DEPS table (harness/src/DEPS.ts):
// a folder imports only what its line allows, nothing leaves the folder, and no two folders
// import each other, directly or around a circle.
import fs from 'node:fs';
import path from 'node:path';
import { ANY, type DepRule } from '../../harness/src/DEPS.js';

/** One relative import: the importing file and line (relative to the root), the text, the folders. */
export interface Import { file: string; line: number; spec: string; from: string; to: string; typeOnly: boolean }

/** The folder of a path relative to the root: its first segment, or '.' for a top-level file. */
export function folderOf(rel: string): string {
  const parts = rel.split(/[\\/]/);
  return parts.length > 1 ? parts[0] : '.';
}

/** The text with comments blanked (line breaks kept, so positions still count lines). */
function withoutComments(text: string): string {
  return text.replace(/\/\*[^]*?\*\/|\/\/[^\n]*/g, (c) => c.replace(/[^\n]/g, ' '));
}

const STATIC = /\b(import|export)\s+(type\s+)?([^'";]*?\bfrom\s*)?'([^']+)'/g;
const DYNAMIC = /\bimport\(\s*'([^']+)'\s*\)/g;

/** Whether the part between `import` and `from` names types only (`type X` or `{ type A, type B }`). */
function namesTypesOnly(typeKeyword: string | undefined, clause: string | undefined): boolean {
  if (typeKeyword) return true;
  const m = /^\{([^}]*)\}\s*from\s*$/.exec((clause ?? '').trim());
  if (!m) return false;
  const names = m[1].split(',').map((s) => s.trim()).filter(Boolean);
  return names.length > 0 && names.every((n) => n.startsWith('type '));
}

/** The relative imports of one file's text; `rel` is the file relative to the root. */
export function importsOfText(rel: string, text: string): Import[] {
  const clean = withoutComments(text);
  const lineAt = (i: number): number => clean.slice(0, i).split('\n').length;
  const out: Import[] = [];
  const add = (spec: string, index: number, typeOnly: boolean): void => {
    if (!spec.startsWith('.')) return; // a package (node:, yaml, ssh2…)
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(rel.split(path.sep).join('/')), spec));
    out.push({ file: rel, line: lineAt(index), spec, from: folderOf(rel), to: target.startsWith('../') ? '..' : folderOf(target), typeOnly });
  };
  for (const m of clean.matchAll(STATIC)) add(m[4], m.index!, namesTypesOnly(m[2], m[3]));
  for (const m of clean.matchAll(DYNAMIC)) add(m[1], m.index!, false);
  return out;
}

/** Every relative import of every .ts file under `root`. */
export function importsUnder(root: string): Import[] {
  const out: Import[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(...importsOfText(path.relative(root, p), fs.readFileSync(p, 'utf8')));
    }
  };
  walk(root);
  return out;
}

/** One line per import the table does not allow, naming the file:line, the import and the rule. */
export function ruleViolations(imports: readonly Import[], deps: Readonly<Record<string, DepRule>>): string[] {
  const out: string[] = [];
  for (const i of imports) {
    if (i.from === i.to) continue;
    const where = `${i.file}:${i.line}: import '${i.spec}'`;
    if (i.to === '..') { out.push(`${where} leaves harness/src (host code imports only harness/src and packages)`); continue; }
    const rule = deps[i.from];
    if (!rule) { out.push(`${where}: folder ${i.from}/ has no line in DEPS.ts`); continue; }
    if (rule.may.includes(ANY) || rule.may.includes(i.to)) continue;
    if (i.typeOnly && rule.types?.includes(i.to)) continue;
    const allowed = `${i.from}/ may import ${rule.may.length ? rule.may.join(', ') : 'nothing of harness/src'}${rule.types?.length ? `, and types from ${rule.types.join(', ')}` : ''}`;
    const why = rule.types?.includes(i.to) ? ` (only \`import type\` from ${i.to}/)` : '';
    out.push(`${where} (${i.from} → ${i.to}) breaks the rule "${allowed}"${why}`);
  }
  return out;
}

/** Every circle between folders (each as folder → … → the same folder), with one import per arrow. */
export function folderCycles(imports: readonly Import[]): string[] {
  const edges = new Map<string, Map<string, Import>>();
  for (const i of imports) {
    if (i.from === i.to || i.to === '..') continue;
    if (!edges.has(i.from)) edges.set(i.from, new Map());
    if (!edges.get(i.from)!.has(i.to)) edges.get(i.from)!.set(i.to, i);
  }
  // Tarjan's strongly connected components: a component of more than one folder holds a circle.
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter); low.set(v, counter); counter++;
    stack.push(v); onStack.add(v);
    for (const w of [...(edges.get(v)?.keys() ?? [])].sort()) {
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string;
      do { w = stack.pop()!; onStack.delete(w); c.push(w); } while (w !== v);
      if (c.length > 1) components.push(c.sort());
    }
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) visit(v);
  // One circle per component: the shortest way from one of its folders back to itself.
  const circleFrom = (start: string, inC: ReadonlySet<string>): string[] | undefined => {
    const prev = new Map<string, string>();
    const queue = [start];
    while (queue.length) {
      const v = queue.shift()!;
      for (const w of [...(edges.get(v)?.keys() ?? [])].sort()) {
        if (!inC.has(w)) continue;
        if (w === start) {
          const way = [v];
          while (way[0] !== start) way.unshift(prev.get(way[0])!);
          return [...way, start];
        }
        if (!prev.has(w)) { prev.set(w, v); queue.push(w); }
      }
    }
    return undefined;
  };
  return components.map((c) => {
    const inC = new Set(c);
    const pathBack = c.map((s) => circleFrom(s, inC)!).reduce((a, b) => (b.length < a.length ? b : a));
    const arrows = pathBack.slice(0, -1).map((v, k) => {
      const i = edges.get(v)!.get(pathBack[k + 1])!;
      return `${v} → ${pathBack[k + 1]} (${i.file}:${i.line})`;
    });
    return `circle ${pathBack.join(' → ')}: ${arrows.join('; ')}`;
  });
}
