// The kinds of kernel source a description's `source:` may name, each in its own file. Adding
// a kind is one file implementing SourceKind (source.ts) and one line here.
import { bzImageKind } from './source-bzimage.js';
import { debianKind } from './source-debian.js';
import { gitKind } from './source-git.js';
import type { SourceKind } from './source.js';

export const SOURCE_KINDS = [debianKind, gitKind, bzImageKind] as const;

type Described<K> = K extends SourceKind<infer D> ? D : never;

/** Where a kernel comes from, as a loaded description holds it: one member per kind. */
export type SourceDescription = Described<(typeof SOURCE_KINDS)[number]>;
