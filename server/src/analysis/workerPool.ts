// A bounded pool of analysis worker processes. One job per worker; a job's worker that dies is replaced and the job
// retried once; a cancelled job that does not stop in time has its worker killed. A worker over its memory limit
// (i2f.workerMemoryMB) is stopped and its job fails with a message naming the model and the limit, without a retry:
// the same job on a fresh worker would need the same memory again.

import { fork, type ChildProcess } from 'node:child_process';
import { basename } from 'node:path';
import { readResidentMB } from './residentMemory';
import type { AnalyseJob, FromWorker, JobOutcome, ToWorker, WorkerRequest } from './jobs';
import type { ProvisionalBand } from './analyzeModel';

export interface PoolTask {
  id: number;
  request: WorkerRequest;
  onProgress: (stage: string, fraction: number) => void;
  /** Called when the task starts on a worker (again, after a retry). */
  onStart: (pid: number) => void;
  /** An analysis's provisional answers while it runs. */
  onBand?: (band: ProvisionalBand) => void;
  attempts: number;
  cancelled: boolean;
  resolve: (o: JobOutcome) => void;
}

interface Worker {
  proc: ChildProcess;
  pid: number;
  task?: PoolTask;
  /** Killed by us (cancel timeout, shrink, dispose): not a crash. */
  intentional: boolean;
  /** The limit it was started with (--max-old-space-size). */
  memoryMB: number;
  killTimer?: NodeJS.Timeout;
  /** Resident MB when the memory watchdog stopped it. */
  overMemoryMB?: number;
  /** The end of its stderr: V8 prints its heap-limit death there ("JavaScript heap out of memory"). */
  stderrTail: string;
}

export interface PoolEvents {
  log: (message: string) => void;
  /** A worker died while running a task (not killed by us). `retried`: the task is queued again. */
  onCrash: (info: { pid: number; signal: NodeJS.Signals | null; code: number | null; taskId?: number; retried: boolean }) => void;
  /** A worker went over its memory limit while running a task; the task failed (not retried, not a crash). */
  onOutOfMemory?: (info: { pid: number; taskId: number; model: string; limitMB: number; residentMB?: number }) => void;
}

/** A cancelled job gets this long to stop before its worker is killed. */
const CANCEL_GRACE_MS = 2_000;
/** A job is retried once after its worker dies; a second death is reported as a failure. */
const MAX_ATTEMPTS = 2;
/**
 * How often a busy worker's resident memory is read. onnxruntime allocates its tensors outside the V8 heap, so
 * --max-old-space-size alone does not bound a worker; this watchdog does (a spike shorter than this can pass it).
 */
const MEMORY_POLL_MS = 100;
/** V8's own last words when the heap limit is hit (it then aborts: SIGABRT, or exit code 134 under a shell). */
const V8_HEAP_OOM = /JavaScript heap out of memory|Reached heap limit|FATAL ERROR: .*(Allocation failed|allocation failed)/;

export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly queue: PoolTask[] = [];
  private disposed = false;
  private memoryTimer?: NodeJS.Timeout;
  restarts = 0;

  constructor(
    private readonly script: string,
    private size: number,
    private memoryMB: number,
    private readonly events: PoolEvents,
    /** Resident-memory polling period in ms; 0 leaves only V8's heap limit (where /proc is absent it is moot). */
    private readonly memoryPollMs = MEMORY_POLL_MS,
  ) {}

  resize(size: number, memoryMB: number): void {
    this.size = Math.max(1, size);
    this.memoryMB = memoryMB;
    // Idle workers beyond the new size or with an old heap limit go now; busy ones when they finish (the watchdog
    // applies the new limit to them at once).
    for (const w of [...this.workers]) if (!w.task && !w.intentional && (w.memoryMB !== memoryMB || this.live > this.size)) this.stop(w);
    this.pump();
  }

  run(id: number, job: AnalyseJob, onProgress: PoolTask['onProgress'], onStart: PoolTask['onStart'], onBand?: PoolTask['onBand']): Promise<JobOutcome> {
    return this.submit(id, { type: 'analyse', job }, onProgress, onStart, onBand);
  }

  /** Any worker request (spectrum data, model summaries): queued, retried and cancelled like analyses. */
  submit(id: number, request: WorkerRequest, onProgress: PoolTask['onProgress'] = () => {}, onStart: PoolTask['onStart'] = () => {}, onBand?: PoolTask['onBand']): Promise<JobOutcome> {
    return new Promise((resolve) => {
      this.queue.push({ id, request, onProgress, onStart, ...(onBand ? { onBand } : {}), attempts: 0, cancelled: false, resolve });
      this.pump();
    });
  }

  cancel(id: number): void {
    const q = this.queue.findIndex((t) => t.id === id);
    if (q >= 0) {
      const [t] = this.queue.splice(q, 1);
      t.cancelled = true;
      t.resolve({ kind: 'cancelled' });
      return;
    }
    const w = this.workers.find((x) => x.task?.id === id);
    if (!w || !w.task || w.task.cancelled) return;
    w.task.cancelled = true;
    this.post(w, { type: 'cancel', id });
    w.killTimer = setTimeout(() => {
      this.events.log(`worker ${w.pid}: job ${id} did not stop within ${CANCEL_GRACE_MS} ms of its cancellation; killing it`);
      this.stop(w);
    }, CANCEL_GRACE_MS);
  }

  /** Workers not being stopped. */
  private get live(): number {
    return this.workers.filter((x) => !x.intentional).length;
  }

  get busy(): number {
    return this.workers.filter((w) => w.task).length;
  }

  get queued(): number {
    return this.queue.length;
  }

  describe(): { pid: number; busy: boolean; job?: number }[] {
    return this.workers.map((w) => ({ pid: w.pid, busy: !!w.task, ...(w.task ? { job: w.task.id } : {}) }));
  }

  dispose(): void {
    this.disposed = true;
    clearInterval(this.memoryTimer);
    this.memoryTimer = undefined;
    for (const t of this.queue.splice(0)) t.resolve({ kind: 'cancelled' });
    for (const w of [...this.workers]) this.stop(w);
  }

  private pump(): void {
    if (this.disposed) return;
    while (this.queue.length) {
      let w = this.workers.find((x) => !x.task && !x.intentional);
      if (!w) {
        if (this.live >= this.size) return;
        w = this.spawn();
      }
      const task = this.queue.shift()!;
      task.attempts++;
      w.task = task;
      task.onStart(w.pid);
      this.post(w, { ...task.request, id: task.id } as ToWorker);
    }
    this.watchMemory();
  }

  /** Polls busy workers' resident memory while any task runs; stops when the pool is idle. */
  private watchMemory(): void {
    const busy = this.workers.some((w) => w.task && !w.intentional);
    if (!busy || this.memoryPollMs <= 0) {
      clearInterval(this.memoryTimer);
      this.memoryTimer = undefined;
    } else if (!this.memoryTimer) {
      this.memoryTimer = setInterval(() => this.checkMemory(), this.memoryPollMs);
      this.memoryTimer.unref();
    }
  }

  private checkMemory(): void {
    for (const w of this.workers) {
      if (!w.task || w.intentional) continue;
      const mb = readResidentMB(w.pid);
      if (mb === undefined || mb <= this.memoryMB) continue;
      w.overMemoryMB = mb;
      this.events.log(`worker ${w.pid}: ${mb.toFixed(0)} MB resident, over i2f.workerMemoryMB = ${this.memoryMB} MB, during job ${w.task.id}; stopping it`);
      this.stop(w);
    }
    this.watchMemory();
  }

  private spawn(): Worker {
    const proc = fork(this.script, [], {
      execArgv: [`--max-old-space-size=${this.memoryMB}`],
      serialization: 'advanced', // typed arrays (the noise responses) cross as such
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const w: Worker = { proc, pid: proc.pid ?? -1, intentional: false, memoryMB: this.memoryMB, stderrTail: '' };
    this.workers.push(w);
    proc.stdout?.on('data', (d) => this.events.log(`worker ${w.pid}: ${String(d).trimEnd()}`));
    proc.stderr?.on('data', (d) => {
      w.stderrTail = (w.stderrTail + String(d)).slice(-4096);
      this.events.log(`worker ${w.pid} (stderr): ${String(d).trimEnd()}`);
    });
    proc.on('message', (m: FromWorker) => this.onMessage(w, m));
    proc.on('error', (e) => this.events.log(`worker ${w.pid}: ${e.message}`));
    proc.on('exit', (code, signal) => this.onExit(w, code, signal));
    this.events.log(`worker ${w.pid} started (--max-old-space-size=${this.memoryMB})`);
    return w;
  }

  private post(w: Worker, m: ToWorker): void {
    try {
      w.proc.send(m);
    } catch (e) {
      this.events.log(`worker ${w.pid}: could not send ${m.type}: ${(e as Error).message}`);
    }
  }

  private finish(w: Worker, outcome: JobOutcome): void {
    const task = w.task;
    if (!task) return;
    clearTimeout(w.killTimer);
    w.task = undefined;
    task.resolve(task.cancelled ? { kind: 'cancelled' } : outcome);
    if (this.live > this.size || w.memoryMB !== this.memoryMB) this.stop(w);
    this.pump();
  }

  /** The failure a job over the memory limit ends with: the model and the limit, and what the user can change. */
  private outOfMemory(w: Worker, task: PoolTask): JobOutcome {
    const model = modelOf(task.request);
    const at = w.overMemoryMB !== undefined ? ` (stopped at ${w.overMemoryMB.toFixed(0)} MB resident)` : ' (its JavaScript heap was full)';
    this.events.onOutOfMemory?.({ pid: w.pid, taskId: task.id, model, limitMB: this.memoryMB, residentMB: w.overMemoryMB });
    return {
      kind: 'failed',
      userError: true,
      outOfMemory: true,
      message: `analysing ${basename(model)} needs more than ${this.memoryMB} MB (i2f.workerMemoryMB)${at}; raise i2f.workerMemoryMB or lower i2f.maxSamples`,
    };
  }

  private onMessage(w: Worker, m: FromWorker): void {
    if (m.type === 'ready') return;
    if (!w.task || w.task.id !== m.id) return; // a late message of a job already given up on
    if (m.type === 'progress') w.task.onProgress(m.stage, m.fraction);
    else if (m.type === 'band') w.task.onBand?.(m.band);
    else if (m.type === 'result') this.finish(w, { kind: 'result', report: m.report, modelOps: m.modelOps, batches: m.batches, ms: m.ms });
    else if (m.type === 'spectrum-result') this.finish(w, { kind: 'spectrum', state: m.state, ms: m.ms });
    else if (m.type === 'summary-result') this.finish(w, { kind: 'summary', summary: m.summary, ms: m.ms });
    else if (m.type === 'attack-result') this.finish(w, { kind: 'attack', report: m.report, ms: m.ms });
    else if (m.type === 'verify-result') this.finish(w, { kind: 'verify', report: m.report, ms: m.ms });
    else if (m.type === 'failed') this.finish(w, { kind: 'failed', message: m.message, userError: m.userError });
    else if (m.type === 'cancelled') this.finish(w, { kind: 'cancelled' });
  }

  private onExit(w: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    clearTimeout(w.killTimer);
    this.workers.splice(this.workers.indexOf(w), 1);
    const task = w.task;
    w.task = undefined;
    this.events.log(`worker ${w.pid} exited (${signal ?? `code ${code}`})${task ? ` while running job ${task.id}` : ''}`);
    if (task) {
      if (task.cancelled || this.disposed) task.resolve({ kind: 'cancelled' });
      else if (w.overMemoryMB !== undefined || (!w.intentional && V8_HEAP_OOM.test(w.stderrTail))) task.resolve(this.outOfMemory(w, task));
      else if (!w.intentional) {
        const retried = task.attempts < MAX_ATTEMPTS;
        this.restarts++;
        this.events.onCrash({ pid: w.pid, signal, code, taskId: task.id, retried });
        if (retried) this.queue.unshift(task);
        else task.resolve({ kind: 'failed', message: `the analysis process stopped (${signal ?? `exit code ${code}`}) twice on this model: a crash in onnxruntime or in our code`, userError: false });
      }
    }
    this.pump();
  }

  private stop(w: Worker): void {
    w.intentional = true;
    w.proc.kill('SIGKILL');
  }
}

/** The model file a request works on, for messages. */
function modelOf(r: WorkerRequest): string {
  if (r.type === 'analyse') return r.job.config.model ?? r.job.config.path;
  if (r.type === 'summary') return r.file;
  return r.request.model;
}
