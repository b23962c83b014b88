// Kconfig fragments and .config files: parse the harness's fragment (which may carry a short
// comment on each line), render it in the plain form scripts/kconfig/merge_config.sh expects,
// and verify that every option the fragment sets survived `make olddefconfig`.

/** One `CONFIG_X=value` or `# CONFIG_X is not set` line. value is 'n' for "is not set"; strings keep their quotes. */
export interface KconfigEntry {
  name: string;
  value: string;
  /** 1-based line in the fragment (0 for entries the harness adds itself). */
  line: number;
}

export interface KconfigMismatch {
  name: string;
  wanted: string;
  /** Value in the final .config; undefined when the option is absent (unset, usually a missing dependency). */
  actual: string | undefined;
  line: number;
}

const NAME = 'CONFIG_[A-Za-z0-9_]+';
const NOT_SET = new RegExp(`^#\\s*(${NAME}) is not set(?:\\s+#.*)?$`);
const ASSIGN = new RegExp(`^(${NAME})=(.*)$`);

/** Splits `value [# comment]`; returns the value token or undefined when the line is malformed. */
function splitValue(rest: string): string | undefined {
  let value: string;
  let tail: string;
  if (rest.startsWith('"')) {
    let i = 1;
    for (; i < rest.length; i++) {
      if (rest[i] === '\\') i++;
      else if (rest[i] === '"') break;
    }
    if (i >= rest.length) return undefined; // unterminated string
    value = rest.slice(0, i + 1);
    tail = rest.slice(i + 1);
  } else {
    const m = /^[^\s#"]+/.exec(rest);
    if (!m) return undefined;
    value = m[0];
    tail = rest.slice(value.length);
  }
  if (!/^(?:\s+#.*|\s*)$/.test(tail)) return undefined;
  return value;
}

/**
 * Parses a Kconfig fragment. Accepts blank lines, comment lines, `CONFIG_X=value` and
 * `# CONFIG_X is not set`, each optionally followed by whitespace and a `# comment`.
 * Throws on any other line and on an option set twice to different values.
 */
export function parseFragment(text: string, file = '<fragment>'): KconfigEntry[] {
  const out: KconfigEntry[] = [];
  const seen = new Map<string, KconfigEntry>();
  text.split(/\r?\n/).forEach((raw, idx) => {
    const line = idx + 1;
    const s = raw.trim();
    if (s === '') return;
    let entry: KconfigEntry | undefined;
    const ns = NOT_SET.exec(s);
    if (ns) entry = { name: ns[1], value: 'n', line };
    else if (s.startsWith('#')) return;
    else {
      const m = ASSIGN.exec(s);
      const value = m ? splitValue(m[2]) : undefined;
      if (!m || value === undefined) throw new Error(`${file}:${line}: not a Kconfig line: ${JSON.stringify(raw)}`);
      entry = { name: m[1], value, line };
    }
    const prev = seen.get(entry.name);
    if (prev) {
      if (prev.value !== entry.value) {
        throw new Error(`${file}:${line}: ${entry.name}=${entry.value} contradicts line ${prev.line} (${entry.name}=${prev.value})`);
      }
      return;
    }
    seen.set(entry.name, entry);
    out.push(entry);
  });
  return out;
}

/** Parses a .config into name -> value ('n' for "is not set"). Options Kconfig left out are absent. */
export function parseDotConfig(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const s = raw.trim();
    const ns = NOT_SET.exec(s);
    if (ns) {
      out.set(ns[1], 'n');
      continue;
    }
    const m = ASSIGN.exec(s);
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

/** Renders entries as plain Kconfig lines (no comments), the form merge_config.sh understands. */
export function renderFragment(entries: readonly KconfigEntry[]): string {
  return entries.map((e) => (e.value === 'n' ? `# ${e.name} is not set` : `${e.name}=${e.value}`)).join('\n') + '\n';
}

/** Kconfig string literal, escaped the way Kconfig writes .config. */
export function kconfigString(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

function sameValue(wanted: string, actual: string | undefined): boolean {
  if (wanted === 'n') return actual === undefined || actual === 'n';
  if (actual === undefined) return false;
  if (/^0x[0-9a-f]+$/i.test(wanted)) return wanted.toLowerCase() === actual.toLowerCase();
  return wanted === actual;
}

/** Every fragment entry whose value differs in the final .config. */
export function verifyConfig(wanted: readonly KconfigEntry[], config: Map<string, string>): KconfigMismatch[] {
  const out: KconfigMismatch[] = [];
  for (const e of wanted) {
    const actual = config.get(e.name);
    if (!sameValue(e.value, actual)) out.push({ name: e.name, wanted: e.value, actual, line: e.line });
  }
  return out;
}

function describeActual(actual: string | undefined): string {
  return actual === undefined ? 'absent (unset; a dependency is probably missing)' : actual === 'n' ? 'n (is not set)' : actual;
}

/** Thrown when the final .config does not honour the fragment. */
export class KconfigMismatchError extends Error {
  constructor(readonly fragment: string, readonly mismatches: readonly KconfigMismatch[]) {
    super(
      `the final .config does not honour the fragment ${fragment}:\n` +
        mismatches
          .map((m) => `  ${m.name}: wanted ${m.wanted}${m.line ? ` (line ${m.line})` : ''}, actual ${describeActual(m.actual)}`)
          .join('\n'),
    );
    this.name = 'KconfigMismatchError';
  }
}

/** Throws KconfigMismatchError naming each option, its wanted and actual value, and the fragment file. */
export function assertConfig(fragment: string, wanted: readonly KconfigEntry[], configText: string): void {
  const mismatches = verifyConfig(wanted, parseDotConfig(configText));
  if (mismatches.length > 0) throw new KconfigMismatchError(fragment, mismatches);
}
