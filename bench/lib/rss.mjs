// Peak resident memory of the server processes, from /proc/<pid>/status (Linux only).
import fs from 'node:fs';

/** VmHWM, VmRSS and RssAnon of a process in KiB, from /proc/<pid>/status; null when it is gone. */
export function readStatus(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const hwm = text.match(/^VmHWM:\s+(\d+)\s+kB/m);
    const rss = text.match(/^VmRSS:\s+(\d+)\s+kB/m);
    const anon = text.match(/^RssAnon:\s+(\d+)\s+kB/m);
    return { hwmKiB: hwm ? +hwm[1] : 0, rssKiB: rss ? +rss[1] : 0, anonKiB: anon ? +anon[1] : 0 };
  } catch {
    return null; // process gone
  }
}

/** Reset the kernel's high-water mark (echo 5 > clear_refs); needs the same uid or root. Best effort. */
function resetHwm(pid) {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * Samples VmRSS/VmHWM of a set of pids every intervalMs. getPids() is re-evaluated each tick so that
 * processes that fork workers (nginx) are followed.
 *   peakSumMiB: largest simultaneous sum of VmRSS (sampled)
 *   perPid: pid -> peak MiB (max of sampled VmRSS and the kernel's VmHWM)
 *   sumOfPeaksMiB: sum over pids of their own peak (upper bound, what the table reports for >1 process)
 *   sumOfAnonPeaksMiB: the same for RssAnon (private memory, without file pages)
 */
export class RssSampler {
  constructor(getPids, intervalMs = 100) {
    this.getPids = getPids;
    this.intervalMs = intervalMs;
    this.timer = null;
    this.reset();
  }

  reset() {
    this.perPidKiB = new Map();
    this.anonPerPidKiB = new Map();
    this.peakSumKiB = 0;
    this.hwmResetOk = true;
    for (const pid of this.getPids()) this.hwmResetOk = resetHwm(pid) && this.hwmResetOk;
  }

  tick() {
    let sum = 0;
    for (const pid of this.getPids()) {
      const st = readStatus(pid);
      if (!st) continue;
      sum += st.rssKiB;
      const peak = Math.max(st.rssKiB, this.hwmResetOk ? st.hwmKiB : 0);
      this.perPidKiB.set(pid, Math.max(this.perPidKiB.get(pid) ?? 0, peak));
      this.anonPerPidKiB.set(pid, Math.max(this.anonPerPidKiB.get(pid) ?? 0, st.anonKiB));
    }
    this.peakSumKiB = Math.max(this.peakSumKiB, sum);
  }

  start() {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** Stop sampling and return this window's peaks. */
  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.tick();
    const perPid = Object.fromEntries([...this.perPidKiB].map(([pid, k]) => [pid, +(k / 1024).toFixed(1)]));
    const values = Object.values(perPid);
    return {
      perPidMiB: perPid,
      maxMiB: values.length ? Math.max(...values) : 0,
      sumOfPeaksMiB: +values.reduce((a, b) => a + b, 0).toFixed(1),
      // RssAnon alone (sampled): the process's private memory — V8 heap, malloc — without file pages (the node binary,
      // LMDB's mapped data file), which the kernel can drop and re-read.
      sumOfAnonPeaksMiB: +([...this.anonPerPidKiB.values()].reduce((a, b) => a + b, 0) / 1024).toFixed(1),
      peakSumSampledMiB: +(this.peakSumKiB / 1024).toFixed(1),
      hwmUsed: this.hwmResetOk,
    };
  }
}

/**
 * Resident MiB of the mappings of a file whose path ends with `suffix` (e.g. LMDB's `/data.mdb`), summed over `pids`,
 * from /proc/<pid>/smaps: file pages the process has mapped, which VmRSS counts but the kernel can drop and re-read.
 * Reading smaps walks every mapping, so this is for the end of a phase, not for the 100 ms sampler.
 */
export function mappedFileMiB(pids, suffix) {
  let kib = 0;
  for (const pid of pids) {
    let text;
    try {
      text = fs.readFileSync(`/proc/${pid}/smaps`, 'utf8');
    } catch {
      continue; // process gone
    }
    let inFile = false;
    for (const line of text.split('\n')) {
      if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inFile = line.endsWith(suffix);
      else if (inFile && line.startsWith('Rss:')) kib += Number(line.slice(4).trim().split(/\s+/)[0]);
    }
  }
  return +(kib / 1024).toFixed(1);
}

/** Direct children of a pid (used to follow nginx's worker processes). Bounded scan of /proc. */
export function childPids(ppid) {
  try {
    const t = fs.readFileSync(`/proc/${ppid}/task/${ppid}/children`, 'utf8').trim();
    return t ? t.split(/\s+/).map(Number) : [];
  } catch {
    /* CONFIG_PROC_CHILDREN missing: scan */
  }
  const out = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (+fields[1] === ppid) out.push(+name);
    } catch {
      /* raced with exit */
    }
  }
  return out;
}
