// How the per-run client public key reaches the guest: two kernel command-line words that
// guest/image/init reads from /proc/cmdline into /root/.ssh/authorized_keys. Words with a dot
// are module-parameter syntax, so the kernel passes them neither to init's argv nor its env.

const TYPE_RE = /^[a-z0-9][a-z0-9@.-]*$/;
const BLOB_RE = /^[A-Za-z0-9+/]+={0,2}$/;

export interface OpenSshPublicKey {
  type: string;
  /** base64 of the wire-format key blob. */
  blob: string;
}

/** Splits an OpenSSH public key line ("type base64 [comment]") and checks that the blob names the same type. */
export function parseOpenSshPublicKey(line: string): OpenSshPublicKey {
  const [type, blob] = line.trim().split(/\s+/);
  if (!type || !blob || !TYPE_RE.test(type) || !BLOB_RE.test(blob)) {
    throw new Error(`not an OpenSSH public key line: ${JSON.stringify(line.slice(0, 80))}`);
  }
  const raw = Buffer.from(blob, 'base64');
  const len = raw.length >= 4 ? raw.readUInt32BE(0) : -1;
  const inner = len >= 0 && 4 + len <= raw.length ? raw.subarray(4, 4 + len).toString('latin1') : null;
  if (inner !== type) throw new Error(`OpenSSH public key says ${type} but its blob holds ${inner === null ? 'no type' : inner}`);
  return { type, blob };
}

/** Kernel command-line words that hand the per-run client public key (OpenSSH form) to the guest. */
export function authorizedKeyCmdline(publicKeyOpenSsh: string): string[] {
  const { type, blob } = parseOpenSshPublicKey(publicKeyOpenSsh);
  return [`kph.keytype=${type}`, `kph.key=${blob}`];
}

/**
 * The authorized_keys line the guest's init writes for a kernel command line, parsed the way
 * init does it (last word wins, type defaults to ssh-ed25519); null when there is no key.
 */
export function authorizedKeyFromCmdline(cmdline: string): string | null {
  let type = 'ssh-ed25519';
  let key: string | null = null;
  for (const w of cmdline.trim().split(/\s+/)) {
    if (w.startsWith('kph.key=')) key = w.slice('kph.key='.length);
    else if (w.startsWith('kph.keytype=')) type = w.slice('kph.keytype='.length);
  }
  return key ? `${type} ${key}` : null;
}
