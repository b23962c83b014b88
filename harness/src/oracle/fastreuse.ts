// The bind bucket's fast-path summary (tb->fastreuse, tb->fastreuseport): lets an explicit-port
// bind or a listen skip the owner-by-owner conflict check, and marks buckets that connect() may
// share (-1). Models sk_reuseport_match() and inet_csk_update_fastreuse().
import { ipv4RcvSaddrEqual, ipv6RcvSaddrEqual } from './addr.js';
import { FASTREUSEPORT_ANY, FASTREUSEPORT_STRICT, type BindBucket, type Sk } from './state.js';

// Models sk_reuseport_match(): may sk join tb through SO_REUSEPORT without a full check?
export function reuseportMatch(tb: BindBucket, sk: Sk): boolean {
  if (tb.fastreuseport <= 0 || !sk.reuseport || sk.reuseportCb || tb.fastuid !== sk.uid) return false;
  if (tb.fastreuseport === FASTREUSEPORT_ANY) return true;
  const f = tb.fast;
  if (!f) return false;
  if (f.family === 'AF_INET6') {
    const skV6 = sk.family === 'AF_INET6' ? sk.v6 : null;
    return ipv6RcvSaddrEqual(f.v6, skV6, f.v4, sk.v4, f.ipv6only, sk.ipv6only, true, false);
  }
  return ipv4RcvSaddrEqual(f.v4, sk.v4, sk.ipv6only, true, false);
}

// Records sk's address and uid as the bucket's SO_REUSEPORT fast-path reference.
function setFast(tb: BindBucket, sk: Sk, mode: number): void {
  tb.fastreuseport = mode;
  tb.fastuid = sk.uid;
  tb.fast = { family: sk.family, v4: sk.v4, v6: sk.v6, ipv6only: sk.ipv6only };
}

// Models inet_csk_update_fastreuse(): called just before sk joins tb (owners not yet including sk).
export function updateFastreuse(tb: BindBucket, sk: Sk): void {
  const reuse = sk.reuse && sk.state !== 'LISTEN';
  if (tb.owners.length === 0) {
    tb.fastreuse = reuse ? 1 : 0;
    if (sk.reuseport) setFast(tb, sk, FASTREUSEPORT_ANY);
    else tb.fastreuseport = 0;
    return;
  }
  if (!reuse) tb.fastreuse = 0;
  if (sk.reuseport) {
    if (!reuseportMatch(tb, sk)) setFast(tb, sk, FASTREUSEPORT_STRICT);
  } else {
    tb.fastreuseport = 0;
  }
}
