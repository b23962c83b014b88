// Per-run client keys and host-key pinning for the guest's dropbear.
import ssh2 from 'ssh2';

export interface ClientKey {
  /** OpenSSH private key text, handed to ssh2. */
  privateKey: string;
  /** "ssh-ed25519 AAAA..." handed to the guest through the kernel command line. */
  publicKey: string;
}

/** Tries before giving up on key generation (each try fails with p ≈ 0.004). */
const KEY_TRIES = 16;

/** True when ssh2 can read both halves of a pair back (it cannot, for a few ed25519 keys it makes itself). */
function parses(pair: { private: string; public: string }): boolean {
  return !(ssh2.utils.parseKey(pair.private) instanceof Error) && !(ssh2.utils.parseKey(pair.public) instanceof Error);
}

/**
 * Makes a fresh ed25519 key pair for one run; it never touches the disk. ssh2's generator
 * yields, about once in 250 pairs, a private key its own parser rejects ("Malformed OpenSSH
 * private key": mscdex/ssh2 #1390), which would fail every boot of the run: such a pair is
 * drawn again.
 */
export function newClientKey(generate = (): { private: string; public: string } => ssh2.utils.generateKeyPairSync('ed25519', { comment: 'kph-run' })): ClientKey {
  for (let i = 0; i < KEY_TRIES; i++) {
    const pair = generate();
    if (parses(pair)) return { privateKey: pair.private, publicKey: pair.public.trim() };
  }
  throw new Error(`ssh2 made ${KEY_TRIES} ed25519 key pairs in a row that it cannot parse`);
}

/** The wire-format key blob of an OpenSSH public key line ("type base64 [comment]"). */
export function publicKeyBlob(openSsh: string): Buffer {
  const parsed = ssh2.utils.parseKey(openSsh);
  if (parsed instanceof Error) throw new Error(`not an OpenSSH public key (${parsed.message}): ${openSsh.slice(0, 60)}`);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  return key.getPublicSSH();
}

/** A hostVerifier for ssh2 that accepts only the given host key. */
export function pinnedHostVerifier(expectedOpenSsh: string): (key: Buffer) => boolean {
  const expected = publicKeyBlob(expectedOpenSsh);
  return (key: Buffer) => Buffer.isBuffer(key) && key.equals(expected);
}
