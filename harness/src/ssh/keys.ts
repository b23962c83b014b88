// Per-run client keys and host-key pinning for the guest's dropbear.
import ssh2 from 'ssh2';

export interface ClientKey {
  /** OpenSSH private key text, handed to ssh2. */
  privateKey: string;
  /** "ssh-ed25519 AAAA..." handed to the guest through the kernel command line. */
  publicKey: string;
}

/** Makes a fresh ed25519 key pair for one run; it never touches the disk. */
export function newClientKey(): ClientKey {
  const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'kph-run' });
  return { privateKey: pair.private, publicKey: pair.public.trim() };
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
