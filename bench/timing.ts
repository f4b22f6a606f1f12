// Timing helpers: warm-up, then repeat until `repeat` samples or the time budget is spent (at least 3 samples).
// Reports the wall median and the process CPU time per call (user + system over the timed calls, all threads:
// onnxruntime runs the graph on its own thread). CPU time is what a loaded machine distorts least.

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const k = s.length >> 1;
  return s.length % 2 ? s[k] : (s[k - 1] + s[k]) / 2;
}

export const cpuMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

export async function timeLoop(fn: () => Promise<unknown>, o: { repeat: number; budgetMs: number; warmup: number }) {
  for (let i = 0; i < o.warmup; i++) await fn();
  const times: number[] = [];
  const start = performance.now();
  const c0 = cpuMs();
  for (let i = 0; i < o.repeat; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
    if (performance.now() - start > o.budgetMs && times.length >= 3) break;
  }
  const cpu = (cpuMs() - c0) / times.length;
  const wallMean = (performance.now() - start) / times.length;
  return { median: median(times), min: Math.min(...times), count: times.length, cpuPerCall: cpu, wallMean };
}
