// Per-run client keys: a pair ssh2 cannot read back is never handed to a run.
import test from 'ava';
import ssh2 from 'ssh2';
import { newClientKey } from '../../harness/src/ssh/keys.js';

test('a generated pair that ssh2 cannot parse is drawn again (mscdex/ssh2 #1390)', (t) => {
  const good = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'kph-run' });
  const broken = { private: '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n', public: good.public };
  let calls = 0;
  const key = newClientKey(() => (++calls === 1 ? broken : good));
  t.is(calls, 2);
  t.is(key.privateKey, good.private);
  t.false(ssh2.utils.parseKey(key.privateKey) instanceof Error);
});

test('key generation gives up with a clear error when every pair is unreadable', (t) => {
  const broken = { private: 'not a key', public: 'not a key' };
  t.throws(() => newClientKey(() => broken), { message: /cannot parse/ });
});

test('200 real key pairs all parse', (t) => {
  for (let i = 0; i < 200; i++) {
    const k = newClientKey();
    t.false(ssh2.utils.parseKey(k.privateKey) instanceof Error);
  }
});
