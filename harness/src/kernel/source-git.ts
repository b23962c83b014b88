// Kernel source kind `git: PATH` + `ref: COMMIT-ISH`: a commit of a git repository, built out of
// tree (make O=) in a persistent build directory (git.ts). Its facts are the commit, its
// subject, the branch the ref names and the remote's URL; its selftests come from the commit.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { compilerIdentity } from './keys.js';
import { buildGitKernel, resolveGit } from './git.js';
import { answer } from './proc.js';
import { defined, expandPath, keyWithPatches, patchFacts, plusPatches, withPatches, type KernelFacts, type KernelSource, type SourceCheckout, type SourceKind } from './source.js';

export interface GitTreeSource { kind: 'git'; repo: string; ref: string }

/** git rev-parse's answer in `repo`, or undefined when it fails (synchronous: descriptions are checked before anything runs). */
function gitRevParse(repo: string, args: string[]): string | undefined {
  try {
    return execFileSync('git', ['-C', repo, 'rev-parse', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** An https:// form of a git remote URL (scp-like `git@host:path` and ssh:// become https://), or undefined. */
export function httpsUrl(remote: string): string | undefined {
  const r = remote.trim();
  if (/^https:\/\/\S+$/.test(r)) return r.replace(/^https:\/\/[^@/]*@/, 'https://');
  const scp = /^[\w.-]+@([\w.-]+):(?!\/)(\S+)$/.exec(r);
  if (scp) return `https://${scp[1]}/${scp[2]}`;
  const ssh = /^(?:ssh|git):\/\/(?:[\w.-]+@)?([\w.-]+)(?::\d+)?\/(\S+)$/.exec(r);
  if (ssh) return `https://${ssh[1]}/${ssh[2]}`;
  return undefined;
}

/** The branch a ref names (refs/heads/X or refs/remotes/R/X → X), if any. */
async function branchOf(tree: string, ref: string): Promise<string | undefined> {
  const full = await answer('git', ['-C', tree, 'rev-parse', '--symbolic-full-name', ref]);
  const m = /^refs\/(?:heads\/(.+)|remotes\/[^/]+\/(.+))$/.exec(full ?? '');
  return m ? (m[1] ?? m[2]) : undefined;
}

export const gitKind: SourceKind<GitTreeSource> = {
  kind: 'git',
  keys: { git: { type: 'string', minLength: 1 }, ref: { type: 'string', minLength: 1 } },
  built: true,
  resolve(raw, _top, base, complain) {
    const given = raw.git as string;
    const ref = raw.ref as string | undefined;
    if (ref === undefined) complain(['source'], 'expected the key "ref" (the commit-ish to build) with git, found nothing');
    const repo = expandPath(given, base);
    if (!fs.existsSync(repo)) complain(['source', 'git'], `expected a git working tree, found ${JSON.stringify(given)} (${repo} does not exist)`);
    else if (!gitRevParse(repo, ['--show-toplevel'])) complain(['source', 'git'], `expected a git working tree, found ${JSON.stringify(given)} (${repo} is not inside one)`);
    else if (ref !== undefined && !gitRevParse(repo, ['--verify', '--quiet', '--end-of-options', `${ref}^{commit}`])) complain(['source', 'ref'], `expected a commit-ish of ${repo}, found ${JSON.stringify(ref)} (git rev-parse does not resolve it)`);
    return { kind: 'git', repo, ref: ref ?? 'HEAD' };
  },
  open(spec): KernelSource {
    const s = spec.source;
    return {
      packages: [],
      async facts() {
        const [commit, subject, branch, remote, compiler] = await Promise.all([
          answer('git', ['-C', s.repo, 'rev-parse', '--verify', '--quiet', '--end-of-options', `${s.ref}^{commit}`]),
          answer('git', ['-C', s.repo, 'log', '-1', '--format=%s', s.ref, '--']),
          branchOf(s.repo, s.ref),
          answer('git', ['-C', s.repo, 'remote', 'get-url', 'origin']),
          compilerIdentity().catch(() => undefined),
        ]);
        return gitFacts({ tree: s.repo, ref: s.ref, commit, subject, branch, url: remote ? httpsUrl(remote) : undefined, ...patchFacts(spec.patches), compiler, localversion: spec.localversion });
      },
      async build(opts) {
        const source = await resolveGit(s.repo, s.ref);
        const k = await buildGitKernel({
          name: spec.name, profile: spec.profile, localversion: spec.localversion ?? '', source, patches: spec.patches, fragment: spec.fragment,
          logDir: opts.logDir, signal: opts.signal, onProgress: (m) => opts.onProgress?.(spec.name, m),
        });
        return { ...k, tree: { git: source.toplevel, commit: source.commit } };
      },
    };
  },
};

/** A git source's facts with how it shows in the outputs (pure: the facts themselves are gathered by facts()). */
export function gitFacts(f: Omit<Extract<KernelFacts, { kind: 'git' }>, 'kind' | 'checkout' | 'fromSource'>): KernelFacts {
  const checkout: SourceCheckout = {
    key: f.commit ? keyWithPatches(`git-${f.commit.slice(0, 12)}`, f.patches) : undefined,
    label: `git ${f.url ?? f.tree} ${f.branch ? `${f.branch} ` : ''}${f.commit?.slice(0, 12) ?? f.ref}${plusPatches(f.patches)}`,
    comment: `git ${f.ref}${f.commit ? ` (${f.commit.slice(0, 12)})` : ''}${withPatches(f.patches)}`,
    fields: defined({
      tree_name: f.tree.split('/').filter(Boolean).pop(),
      git_repository_url: f.url,
      git_repository_branch: f.branch,
      git_commit_hash: f.commit && /^[0-9a-f]{40}$/.test(f.commit) ? f.commit : undefined,
      git_commit_message: f.subject,
      patchset_hash: f.patchsetHash,
    }),
    misc: defined({ tree: f.tree, ref: f.ref, patches: f.patches, patch_sha256: f.patchHashes }),
  };
  return { kind: 'git', ...f, fromSource: true, checkout };
}
