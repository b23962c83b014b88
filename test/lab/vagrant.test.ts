// The Vagrantfile (a Debian 12 box for machines without Linux or QEMU): Ruby syntax with
// `ruby -c`, what it must set up, and `vagrant validate` (both skipped locally
// when missing, failures under CI=true, where `npm test` provisions them).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { projectRoot } from '../../harness/src/util/paths.js';
import { command, needs } from '../helpers/needs.js';

const VAGRANTFILE = path.join(projectRoot, 'Vagrantfile');
const text = fs.readFileSync(VAGRANTFILE, 'utf8');

/** `vagrant validate` on a Vagrantfile in dir, with throwaway Vagrant state. */
function vagrantValidate(dir: string): { status: number | null; out: string } {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-vagrant-'));
  try {
    const r = spawnSync('vagrant', ['validate', '--ignore-provider', '--no-color'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, VAGRANT_CWD: dir, VAGRANT_HOME: path.join(state, 'home'), VAGRANT_DOTFILE_PATH: path.join(state, 'dot'), VAGRANT_CHECKPOINT_DISABLE: '1' },
    });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
  } finally {
    fs.rmSync(state, { recursive: true, force: true });
  }
}

needs(command('ruby')).test('the Vagrantfile is valid Ruby (ruby -c), and a broken one is not', (t) => {
  const r = spawnSync('ruby', ['-c', VAGRANTFILE], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /Syntax OK/);
  const broken = spawnSync('ruby', ['-c'], { input: text.replace(/\nend\s*$/, '\n'), encoding: 'utf8' });
  t.not(broken.status, 0);
});

test('the Vagrantfile names a Debian 12 box, 8 GiB, 2+ CPUs, nested virtualisation, rsync to /vagrant', (t) => {
  t.regex(text, /config\.vm\.box = 'debian\/bookworm64'/);
  t.regex(text, /VM_MEMORY = Integer\(ENV\.fetch\('KPH_VM_MEMORY', '8192'\)\)/);
  const cpus = /VM_CPUS = Integer\(ENV\.fetch\('KPH_VM_CPUS', '(\d+)'\)\)/.exec(text);
  t.truthy(cpus);
  t.true(Number(cpus![1]) >= 2);
  for (const p of ['lv', 'vb']) {
    t.regex(text, new RegExp(`${p}\\.memory = VM_MEMORY`));
    t.regex(text, new RegExp(`${p}\\.cpus = VM_CPUS`));
  }
  t.regex(text, /lv\.nested = true/);
  t.regex(text, /lv\.cpu_mode = 'host-passthrough'/);
  t.regex(text, /'--nested-hw-virt', 'on'/);
  t.regex(text, /config\.vm\.synced_folder '\.', '\/vagrant', type: 'rsync'/);
});

test('the Vagrantfile provisions Node.js 20 and runs the harness provisioning, and says how to run the two commands', (t) => {
  t.regex(text, /config\.vm\.provision 'shell'.*inline: PROVISION/);
  t.regex(text, /NODE_VERSION = ENV\.fetch\('KPH_NODE_VERSION', '20\.\d+\.\d+'\)/);
  t.regex(text, /sha256sum -c/, 'the Node.js tarball is checked');
  t.regex(text, /npm ci --no-audit --no-fund\n\s+npm run provision\n/);
  t.regex(text, /^#\s+vagrant up\b/m);
  t.regex(text, /^#\s+vagrant ssh -c 'cd \/vagrant && npx zx harness\/run\.mjs'/m);
  t.regex(text, /^#\s+vagrant ssh -c 'cd \/vagrant && npm test'/m);
  // The provisioning script is valid shell.
  const script = /PROVISION = <<~'SHELL'\n([\s\S]*?)\nSHELL\n/.exec(text);
  t.truthy(script);
  const sh = spawnSync('bash', ['-n'], { input: script![1], encoding: 'utf8' });
  t.is(sh.status, 0, sh.stderr);
});

needs(command('vagrant')).test('vagrant validate accepts the Vagrantfile and rejects a broken one', (t) => {
  const ok = vagrantValidate(projectRoot);
  t.is(ok.status, 0, ok.out);
  t.regex(ok.out, /validated successfully/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-vagrantfile-'));
  try {
    fs.writeFileSync(path.join(dir, 'Vagrantfile'), text.replace("config.vm.hostname = 'kph'", "config.vm.hostname = 'kph'\n  config.vm.no_such_setting = 1"));
    const bad = vagrantValidate(dir);
    t.not(bad.status, 0, bad.out);
    t.regex(bad.out, /no_such_setting/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
