/**
 * CPU per process group for the benches, from /proc (Linux): each named root pid and its
 * descendants form a group; postgres backends form "postgres"; the rest is "other".
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';

export interface CpuSnapshot {
  at: number;
  busy: number;
  total: number;
  procs: Map<number, { ticks: number; group: string; comm: string }>;
}
export interface CpuReport {
  /** Whole machine, % of all cores. */
  machineBusyPct: number;
  /** Length of the measured interval. */
  seconds: number;
  /** Per group, % of one core. */
  groups: Record<string, number>;
  /** The busiest processes outside the named groups ("comm pid": % of one core). */
  topOther: Record<string, number>;
}

export class CpuAccounting {
  private readonly hz: number;
  readonly available = fs.existsSync('/proc/stat');
  constructor(private readonly roots: Record<string, number | undefined>) {
    let hz = 100;
    try {
      hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      // keep 100
    }
    this.hz = hz;
  }

  snapshot(): CpuSnapshot | undefined {
    if (!this.available) return undefined;
    const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = cpu;
    const busy = user + nice + system + irq + softirq + steal;
    const info = new Map<number, { ppid: number; comm: string; ticks: number }>();
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
        const close = stat.lastIndexOf(')');
        const comm = stat.slice(stat.indexOf('(') + 1, close);
        const f = stat.slice(close + 2).split(' ');
        // fields after comm: state(0) ppid(1) ... utime(11) stime(12)
        info.set(Number(entry), { ppid: Number(f[1]), comm, ticks: Number(f[11]) + Number(f[12]) });
      } catch {
        // process ended
      }
    }
    const rootOf = new Map<number, string>();
    for (const [name, pid] of Object.entries(this.roots)) if (pid) rootOf.set(pid, name);
    const procs = new Map<number, { ticks: number; group: string; comm: string }>();
    for (const [pid, p] of info) {
      let group: string | undefined;
      let cur: number | undefined = pid;
      for (let depth = 0; cur && depth < 30 && !group; depth++) {
        group = rootOf.get(cur);
        cur = info.get(cur)?.ppid;
      }
      if (!group) group = p.comm === 'postgres' ? 'postgres' : 'other';
      procs.set(pid, { ticks: p.ticks, group, comm: p.comm });
    }
    return { at: performance.now(), busy, total: busy + idle + iowait, procs };
  }

  report(a: CpuSnapshot | undefined, b: CpuSnapshot | undefined): CpuReport | undefined {
    if (!a || !b) return undefined;
    const seconds = (b.at - a.at) / 1000;
    const groups: Record<string, number> = {};
    const others: Array<[string, number]> = [];
    const pct = (ticks: number) => (ticks / this.hz / seconds) * 100;
    for (const [pid, end] of b.procs) {
      const ticks = Math.max(0, end.ticks - (a.procs.get(pid)?.ticks ?? 0));
      groups[end.group] = (groups[end.group] ?? 0) + ticks;
      if (end.group === 'other' && ticks > 0) others.push([`${end.comm} ${pid}`, pct(ticks)]);
    }
    for (const g of Object.keys(groups)) groups[g] = pct(groups[g]);
    const topOther = Object.fromEntries(others.sort((x, y) => y[1] - x[1]).slice(0, 3));
    return { machineBusyPct: ((b.busy - a.busy) / Math.max(1, b.total - a.total)) * 100, seconds, groups, topOther };
  }
}
