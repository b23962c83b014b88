// A minimal QMP client: connect to QEMU's monitor socket, negotiate, run commands.
import net from 'node:net';

interface Pending { resolve: (v: unknown) => void; reject: (e: Error) => void }

export class Qmp {
  private buf = '';
  private queue: Pending[] = [];
  private closed = false;

  private constructor(private readonly sock: net.Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => this.onData(d));
    const fail = (err?: Error): void => {
      this.closed = true;
      for (const p of this.queue.splice(0)) p.reject(err ?? new Error('QMP connection closed'));
    };
    sock.on('error', fail);
    sock.on('close', () => fail());
  }

  /** Connects to a QMP unix socket, retrying until QEMU has created it or the deadline passes. */
  static async connect(path: string, deadlineMs: number, signal?: AbortSignal): Promise<Qmp> {
    const until = Date.now() + deadlineMs;
    for (;;) {
      signal?.throwIfAborted();
      try {
        const sock = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(path);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        const q = new Qmp(sock);
        await q.next(); // greeting
        await q.execute('qmp_capabilities');
        return q;
      } catch (e) {
        if (Date.now() > until) throw new Error(`QMP socket ${path} did not answer within ${deadlineMs} ms: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  private onData(d: string): void {
    this.buf += d;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (!line) continue;
      let msg: Record<string, unknown>;
      try { msg = JSON.parse(line); } catch { continue; }
      if ('event' in msg) continue; // asynchronous events are not needed here
      const p = this.queue.shift();
      if (!p) continue;
      if ('error' in msg) {
        const err = msg.error as { class?: string; desc?: string };
        p.reject(new Error(`QMP error ${err.class ?? ''}: ${err.desc ?? line}`));
      } else p.resolve('return' in msg ? msg.return : msg);
    }
  }

  private next(): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.closed) reject(new Error('QMP connection closed'));
      else this.queue.push({ resolve, reject });
    });
  }

  /** Runs one QMP command and resolves with its `return` value. */
  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    const p = this.next();
    this.sock.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n');
    return p;
  }

  /** Runs a human monitor command (e.g. `info usernet`) and returns its text. */
  async hmp(commandLine: string): Promise<string> {
    return String(await this.execute('human-monitor-command', { 'command-line': commandLine }));
  }

  close(): void {
    this.closed = true;
    this.sock.destroy();
  }
}

/** Finds the host port of the hostfwd rule that forwards to guest port 22 in `info usernet` output. */
export function parseHostFwdPort(usernet: string, guestPort = 22): number | undefined {
  for (const line of usernet.split('\n')) {
    if (!/HOST_FORWARD/.test(line)) continue;
    const cols = line.trim().split(/\s+/);
    // Protocol[State]  FD  Source Address  Port  Dest. Address  Port RecvQ SendQ
    const nums = cols.filter((c) => /^\d+$/.test(c)).map(Number);
    // columns: FD, src port, dst port, recvq, sendq → src port is nums[1], dst port nums[2]
    if (nums.length >= 3 && nums[2] === guestPort) return nums[1];
  }
  return undefined;
}
