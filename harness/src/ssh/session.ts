// An SSH session into a guest (ssh2): connect with pinning and keepalive, exec with a result
// that names how the command ended, and file push over exec (dropbear has no SFTP of its own).
import fs from 'node:fs/promises';
import ssh2 from 'ssh2';
import type { ClientChannel } from 'ssh2';
import { pinnedHostVerifier } from './keys.js';

export interface ConnectOptions {
  host?: string;
  port: number;
  hostKey: string;
  privateKey: string;
  /** Handshake timeout in ms (ssh2's readyTimeout). */
  readyTimeoutMs: number;
  /** Keepalive interval in ms; the session is declared lost after 3 unanswered probes. */
  keepaliveMs: number;
}

/** How an exec ended: every way is named, none is folded into "exit 0". */
export type ExecResult =
  | { kind: 'exited'; code: number; stdout: string; stderr: string; ms: number }
  | { kind: 'signaled'; signal: string; stdout: string; stderr: string; ms: number }
  | { kind: 'no-status'; stdout: string; stderr: string; ms: number }
  | { kind: 'timed-out'; after: 'deadline' | 'inactivity'; stdout: string; stderr: string; ms: number }
  | { kind: 'lost'; error: string; stdout: string; stderr: string; ms: number };

export interface ExecOptions {
  stdin?: string | Buffer;
  /** Whole-command deadline in ms. */
  deadlineMs: number;
  /** Longest silence on stdout/stderr in ms before the command counts as hung. */
  inactivityMs?: number;
  /** Called with each complete stdout line as it arrives. */
  onLine?: (line: string) => void;
  /** Bytes kept per stream; the rest is dropped and a marker appended. */
  maxBytes?: number;
  signal?: AbortSignal;
}

const DEFAULT_MAX = 8 * 1024 * 1024;

class Capped {
  private parts: Buffer[] = [];
  private size = 0;
  private dropped = 0;
  constructor(private readonly max: number) {}
  push(b: Buffer): void {
    const room = this.max - this.size;
    if (room <= 0) { this.dropped += b.length; return; }
    const take = b.length <= room ? b : b.subarray(0, room);
    this.parts.push(take);
    this.size += take.length;
    this.dropped += b.length - take.length;
  }
  text(): string {
    const s = Buffer.concat(this.parts).toString('utf8');
    return this.dropped ? `${s}\n[kph: output capped, ${this.dropped} more bytes dropped]\n` : s;
  }
}

export class GuestSession {
  private lostError: string | undefined;
  private constructor(private readonly client: ssh2.Client) {
    client.on('error', (e) => { this.lostError ??= e.message; });
    client.on('close', () => { this.lostError ??= 'connection closed'; });
  }

  /** Opens a session, or rejects with the handshake's error. */
  static connect(opts: ConnectOptions): Promise<GuestSession> {
    return new Promise((resolve, reject) => {
      const client = new ssh2.Client();
      let settled = false;
      client.once('ready', () => { settled = true; resolve(new GuestSession(client)); });
      client.once('error', (e) => { if (!settled) { settled = true; client.destroy(); reject(e); } });
      client.once('close', () => { if (!settled) { settled = true; reject(new Error('connection closed before the SSH handshake finished')); } });
      client.connect({
        host: opts.host ?? '127.0.0.1',
        port: opts.port,
        username: 'root',
        privateKey: opts.privateKey,
        hostVerifier: pinnedHostVerifier(opts.hostKey),
        readyTimeout: opts.readyTimeoutMs,
        keepaliveInterval: opts.keepaliveMs,
        keepaliveCountMax: 3,
      });
    });
  }

  /** Non-undefined once the connection has dropped. */
  get lost(): string | undefined { return this.lostError; }

  /** Runs a command; always resolves, with the way it ended. */
  exec(command: string, opts: ExecOptions): Promise<ExecResult> {
    const started = Date.now();
    const out = new Capped(opts.maxBytes ?? DEFAULT_MAX);
    const err = new Capped(opts.maxBytes ?? DEFAULT_MAX);
    const ms = (): number => Date.now() - started;
    return new Promise((resolve) => {
      let done = false;
      let channel: ClientChannel | undefined;
      let deadline: NodeJS.Timeout | undefined;
      let idle: NodeJS.Timeout | undefined;
      let lineBuf = '';
      const finish = (r: ExecResult): void => {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        clearTimeout(idle);
        opts.signal?.removeEventListener('abort', onAbort);
        this.client.removeListener('close', onClientClose);
        if (r.kind === 'timed-out' || r.kind === 'lost') channel?.destroy();
        resolve(r);
      };
      const timedOut = (after: 'deadline' | 'inactivity'): void =>
        finish({ kind: 'timed-out', after, stdout: out.text(), stderr: err.text(), ms: ms() });
      // Output that trails the end (after an abort, say) must not re-arm the idle timer: it would keep Node alive.
      const poke = (): void => {
        if (!opts.inactivityMs || done) return;
        clearTimeout(idle);
        idle = setTimeout(() => timedOut('inactivity'), opts.inactivityMs);
      };
      const onAbort = (): void => finish({ kind: 'lost', error: 'aborted', stdout: out.text(), stderr: err.text(), ms: ms() });
      const onClientClose = (): void => finish({ kind: 'lost', error: this.lostError ?? 'connection closed', stdout: out.text(), stderr: err.text(), ms: ms() });
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.client.once('close', onClientClose);
      deadline = setTimeout(() => timedOut('deadline'), opts.deadlineMs);
      poke();
      this.client.exec(command, (e, ch) => {
        if (e) return finish({ kind: 'lost', error: e.message, stdout: '', stderr: '', ms: ms() });
        channel = ch;
        let code: number | undefined;
        let sig: string | undefined;
        ch.on('exit', (c: number | null, s?: string) => {
          if (typeof c === 'number') code = c;
          if (s) sig = s;
        });
        ch.on('data', (d: Buffer) => {
          out.push(d);
          poke();
          if (opts.onLine) {
            lineBuf += d.toString('utf8');
            let nl: number;
            while ((nl = lineBuf.indexOf('\n')) >= 0) {
              opts.onLine(lineBuf.slice(0, nl));
              lineBuf = lineBuf.slice(nl + 1);
            }
          }
        });
        ch.stderr.on('data', (d: Buffer) => { err.push(d); poke(); });
        ch.on('close', () => {
          if (lineBuf && opts.onLine) opts.onLine(lineBuf);
          const base = { stdout: out.text(), stderr: err.text(), ms: ms() };
          if (sig) finish({ kind: 'signaled', signal: sig, ...base });
          else if (code !== undefined) finish({ kind: 'exited', code, ...base });
          else finish({ kind: 'no-status', ...base });
        });
        if (opts.stdin !== undefined) ch.end(opts.stdin);
        else ch.end();
      });
    });
  }

  /** Copies a local file to the guest with `cat > path` and sets its mode. */
  async push(localPath: string, remotePath: string, mode: string, deadlineMs: number): Promise<void> {
    const data = await fs.readFile(localPath);
    const dir = remotePath.replace(/\/[^/]*$/, '') || '/';
    const r = await this.exec(`mkdir -p '${dir}' && cat > '${remotePath}.part' && chmod ${mode} '${remotePath}.part' && mv '${remotePath}.part' '${remotePath}' && wc -c < '${remotePath}'`, { stdin: data, deadlineMs });
    if (r.kind !== 'exited' || r.code !== 0) throw new Error(`pushing ${localPath} to ${remotePath} failed: ${describeExec(r)}`);
    const size = Number(r.stdout.trim());
    if (size !== data.length) throw new Error(`pushing ${localPath} to ${remotePath}: guest has ${size} bytes, expected ${data.length}`);
  }

  close(): void {
    this.client.end();
    this.client.destroy();
  }
}

/** One-line description of how a command ended, for errors and logs. */
export function describeExec(r: ExecResult): string {
  switch (r.kind) {
    case 'exited': return `exited with ${r.code}${r.stderr ? `: ${r.stderr.trim().slice(-300)}` : ''}`;
    case 'signaled': return `killed by signal ${r.signal}`;
    case 'no-status': return 'ended without an exit status (infrastructure error)';
    case 'timed-out': return `timed out (${r.after}) after ${r.ms} ms`;
    case 'lost': return `connection lost: ${r.error}`;
  }
}
