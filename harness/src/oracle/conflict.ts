// Bind-conflict rules: when may sk take a port that sk2 already holds? Models
// inet_bind_conflict(), __inet_bhash2_conflict(), inet_bhash2_conflict(), inet_csk_bind_conflict()
// and inet_bhash2_addr_any_conflict() in net/ipv4/inet_connection_sock.c (Linux 6.1).
// Each function returns null (no conflict) or a sentence naming the owner and the reason.
import { bind2MatchAddrAny, inetRcvSaddrEqual, isV4MappedSk, useHash2OnBind } from './addr.js';
import type { Bind2Bucket, BindBucket, Netns, Sk } from './state.js';

/** Knobs of one conflict check, as the kernel passes them. */
export interface ConflictCtx {
  /** relax: the relaxed autobind scan, or an explicit-port bind / listen re-check. */
  relax: boolean;
  /** reuseport_ok: false in the autobind scan, true for explicit ports. */
  reuseportOk: boolean;
  /** Profile flag: the follow-up's same-euid rule under relax. */
  followup: boolean;
}

// Describes which options a pair lacks, for the else-branch of inet_bind_conflict.
function elseReason(sk: Sk, sk2: Sk, c: ConflictCtx): string {
  const why = sk2.state === 'LISTEN' ? `${sk2.name} is listening`
    : !sk.reuse || !sk2.reuse ? 'not both SO_REUSEADDR' : 'SO_REUSEADDR pair but relax=false';
  let rp: string;
  if (!c.reuseportOk) rp = 'reuseport_ok=false (autobind never shares via SO_REUSEPORT)';
  else if (!sk.reuseport || !sk2.reuseport) rp = 'not both SO_REUSEPORT';
  else if (sk.reuseportCb) rp = `${sk.name} already has a reuseport group`;
  else rp = `euid ${sk.uid} != ${sk2.uid}`;
  return `${sk2.name} holds it (${why}; ${rp})`;
}

// Models inet_bind_conflict(): the option/state/uid rules for one pair (address not considered).
export function pairConflict(sk: Sk, sk2: Sk, c: ConflictCtx): string | null {
  if (sk === sk2) return null;
  const cbOk = !sk.reuseportCb;
  if (sk.reuse && sk2.reuse && sk2.state !== 'LISTEN') {
    if (!c.relax) return `${sk2.name} holds it (both SO_REUSEADDR, but relax=false)`;
    if (c.followup && !c.reuseportOk && sk.reuseport && sk2.reuseport && cbOk
      && (sk2.state === 'TIME_WAIT' || sk.uid === sk2.uid)) {
      const who = sk2.state === 'TIME_WAIT' ? `${sk2.name} is in TIME_WAIT` : `same euid ${sk.uid}`;
      return `${sk2.name} holds it (both SO_REUSEADDR+SO_REUSEPORT and ${who}: follow-up rule)`;
    }
    return null;
  }
  if (!c.reuseportOk || !sk.reuseport || !sk2.reuseport || !cbOk
    || (sk2.state !== 'TIME_WAIT' && sk.uid !== sk2.uid)) {
    return elseReason(sk, sk2, c);
  }
  return null;
}

// Models __inet_bhash2_conflict(): an IPv6-only owner never conflicts with an IPv4(-mapped) binder.
function bhash2PairConflict(sk: Sk, sk2: Sk, c: ConflictCtx): string | null {
  if (sk2.ipv6only && (sk.family === 'AF_INET' || isV4MappedSk(sk))) return null;
  return pairConflict(sk, sk2, c);
}

// Models inet_bhash2_conflict(): any owner (or TIME_WAIT holder) of the bind2 bucket in conflict?
export function bucket2Conflict(sk: Sk, tb2: Bind2Bucket, c: ConflictCtx): string | null {
  for (const sk2 of [...tb2.owners, ...tb2.deathrow]) {
    const r = bhash2PairConflict(sk, sk2, c);
    if (r) return r;
  }
  return null;
}

// Models inet_csk_bind_conflict(): specific addresses check their bind2 bucket, wildcards the whole port.
export function cskBindConflict(sk: Sk, tb: BindBucket, tb2: Bind2Bucket | null, c: ConflictCtx): string | null {
  if (useHash2OnBind(sk)) return tb2 ? bucket2Conflict(sk, tb2, c) : null;
  for (const sk2 of tb.owners) {
    const r = pairConflict(sk, sk2, c);
    if (r && inetRcvSaddrEqual(sk, sk2, true)) return r;
  }
  return null;
}

// Models inet_bhash2_addr_any_conflict(): does a wildcard binding on the port conflict with sk?
export function addrAnyConflict(ns: Netns, sk: Sk, port: number, c: ConflictCtx): string | null {
  for (const tb2 of ns.tb2s) {
    if (tb2.port !== port || !bind2MatchAddrAny(tb2.key, sk)) continue;
    const r = bucket2Conflict(sk, tb2, c);
    if (r) return r;
  }
  return null;
}
