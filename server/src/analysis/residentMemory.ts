// A process's resident memory, read from /proc/<pid>/status (Linux). The pool's memory watchdog needs the real
// footprint: onnxruntime's tensors live outside the V8 heap that --max-old-space-size bounds.

import { readFileSync } from 'node:fs';

/** Resident set size (VmRSS) of `pid` in MB; undefined where /proc is absent (macOS, Windows) or the process is gone. */
export function readResidentMB(pid: number): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) / 1024 : undefined;
}
