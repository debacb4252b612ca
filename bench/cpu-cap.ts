/**
 * A fixed CPU budget per process for the scale-out benchmarks, from the kernel's CPU controller
 * (cgroup v1 at /sys/fs/cgroup/cpu, or v2 at /sys/fs/cgroup with the cpu controller): one group per
 * process, each allowed `cpus` of a core. With every web or worker process capped, the processes
 * and not the machine are the limit, so "2 processes vs 1" shows whether capacity adds up even on
 * a machine with few cores. Needs write access to the cgroup tree (root, or a delegated subtree).
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';

export interface CpuCaps {
  /** The share of one core each process gets. */
  cpus: number;
  /** Which controller gives it, for the printout. */
  controller: string;
  /** Puts a running process under a budget of its own. */
  cap(pid: number): void;
  /** Removes the groups (their processes must have exited). */
  close(): void;
}

const periodUs = 100_000;

/** The caps, or why they cannot be had here (the caller then measures without them). */
export function openCpuCaps(cpus: number, label: string): CpuCaps | { unavailable: string } {
  const v1 = '/sys/fs/cgroup/cpu';
  const v2 = '/sys/fs/cgroup';
  const version = existsSync(join(v1, 'cpu.cfs_quota_us'))
    ? 'v1'
    : existsSync(join(v2, 'cgroup.controllers')) &&
        readFileSync(join(v2, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('cpu')
      ? 'v2'
      : null;
  if (!version) return { unavailable: 'no cgroup CPU controller mounted at /sys/fs/cgroup' };
  const root = version === 'v1' ? v1 : v2;
  const groups: string[] = [];
  const make = (): string => {
    const dir = join(root, `undersign-bench-${label}-${process.pid}-${groups.length}`);
    mkdirSync(dir);
    groups.push(dir);
    const quota = Math.round(cpus * periodUs);
    if (version === 'v1') {
      writeFileSync(join(dir, 'cpu.cfs_period_us'), String(periodUs));
      writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(quota));
    } else {
      writeFileSync(join(dir, 'cpu.max'), `${quota} ${periodUs}`);
    }
    return dir;
  };
  const close = () => {
    for (const dir of groups.splice(0)) {
      try {
        rmdirSync(dir);
      } catch {
        // A process still inside (not yet reaped): the kernel keeps the empty group until reboot.
      }
    }
  };
  try {
    // Try one group now, so a read-only tree is found before any measuring.
    rmdirSync(make());
    groups.length = 0;
  } catch (error) {
    close();
    return { unavailable: `cannot write ${root} (${(error as Error).message.split('\n')[0]})` };
  }
  return {
    cpus,
    controller: `cgroup ${version} CPU quota ${Math.round(cpus * periodUs)}/${periodUs} µs`,
    cap(pid: number) {
      writeFileSync(join(make(), 'cgroup.procs'), String(pid));
    },
    close,
  };
}

function loadAverage(): string {
  return loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');
}

/**
 * Runs a "1 process vs N" pair as the machine allows and again with every process held to
 * `cpu` of a core, printing both ratios (or why the capped one cannot be had here).
 */
export async function measureScaleOut(options: {
  processes: number;
  cpu: number;
  /** What the processes are, for the printout ("worker", "serve process"). */
  noun: string;
  /** What shares the machine's cores in the uncapped run. */
  sharedBy: string;
  pair: (caps: CpuCaps | null) => Promise<number>;
}): Promise<void> {
  const { processes, cpu, noun } = options;
  console.log(`uncapped (the machine's ${cpus().length} cores shared by ${options.sharedBy}):`);
  const uncapped = await options.pair(null);
  console.log(
    `  ratio ${processes} vs 1, uncapped: ${uncapped.toFixed(2)}  (bounded by the cores: ${cpus().length}; load ${loadAverage()})`,
  );
  const caps = openCpuCaps(cpu, noun.split(' ')[0]!);
  if ('unavailable' in caps) {
    console.log(
      `  no CPU budget per process: ${caps.unavailable}; only the uncapped ratio above (run as root, or with a delegated cgroup, for the capped one)`,
    );
    return;
  }
  try {
    console.log(`capped (each ${noun} ${cpu} of a core: ${caps.controller}):`);
    const capped = await options.pair(caps);
    console.log(
      `  ratio ${processes} vs 1 at ${cpu} CPU per ${noun}: ${capped.toFixed(2)}  (${processes} would be perfect scaling; load ${loadAverage()})`,
    );
  } finally {
    caps.close();
  }
}
