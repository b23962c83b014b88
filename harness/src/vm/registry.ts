// Every live QEMU process group, so that any exit of the harness (normal, exception, signal)
// kills them synchronously. SIGKILL of the harness is covered by setpriv --pdeathsig.
const live = new Map<number, () => void>();
let installed = false;

function killAll(): void {
  for (const kill of live.values()) kill();
  live.clear();
}

/** Records a live VM and its synchronous killer; returns the function that forgets it. */
export function register(pid: number, kill: () => void): () => void {
  if (!installed) {
    installed = true;
    process.on('exit', killAll);
  }
  live.set(pid, kill);
  return () => live.delete(pid);
}

/** Kills every registered VM now (used by signal handlers before exiting). */
export function killAllVms(): void {
  killAll();
}

/** How many VMs are alive. */
export function liveVmCount(): number {
  return live.size;
}
