// A bounded pool of analysis worker processes. One job per worker; a job's worker that dies is replaced and the job
// retried once; a cancelled job that does not stop in time has its worker killed.

import { fork, type ChildProcess } from 'node:child_process';
import type { AnalyseJob, FromWorker, JobOutcome, ToWorker, WorkerRequest } from './jobs';

export interface PoolTask {
  id: number;
  request: WorkerRequest;
  onProgress: (stage: string, fraction: number) => void;
  /** Called when the task starts on a worker (again, after a retry). */
  onStart: (pid: number) => void;
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
  killTimer?: NodeJS.Timeout;
}

export interface PoolEvents {
  log: (message: string) => void;
  /** A worker died while running a task (not killed by us). `retried`: the task is queued again. */
  onCrash: (info: { pid: number; signal: NodeJS.Signals | null; code: number | null; taskId?: number; retried: boolean }) => void;
}

/** A cancelled job gets this long to stop before its worker is killed. */
const CANCEL_GRACE_MS = 2_000;
/** A job is retried once after its worker dies; a second death is reported as a failure. */
const MAX_ATTEMPTS = 2;

export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly queue: PoolTask[] = [];
  private disposed = false;
  restarts = 0;

  constructor(
    private readonly script: string,
    private size: number,
    private memoryMB: number,
    private readonly events: PoolEvents,
  ) {}

  resize(size: number, memoryMB: number): void {
    this.size = Math.max(1, size);
    this.memoryMB = memoryMB;
    // Idle workers beyond the new size (or with an old memory limit) go now; busy ones when they finish.
    for (const w of [...this.workers]) if (!w.task && this.workers.length > this.size) this.stop(w);
    this.pump();
  }

  run(id: number, job: AnalyseJob, onProgress: PoolTask['onProgress'], onStart: PoolTask['onStart']): Promise<JobOutcome> {
    return this.submit(id, { type: 'analyse', job }, onProgress, onStart);
  }

  /** Any worker request (spectrum data, model summaries): queued, retried and cancelled like analyses. */
  submit(id: number, request: WorkerRequest, onProgress: PoolTask['onProgress'] = () => {}, onStart: PoolTask['onStart'] = () => {}): Promise<JobOutcome> {
    return new Promise((resolve) => {
      this.queue.push({ id, request, onProgress, onStart, attempts: 0, cancelled: false, resolve });
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
    for (const t of this.queue.splice(0)) t.resolve({ kind: 'cancelled' });
    for (const w of [...this.workers]) this.stop(w);
  }

  private pump(): void {
    if (this.disposed) return;
    while (this.queue.length) {
      let w = this.workers.find((x) => !x.task && !x.intentional);
      if (!w) {
        if (this.workers.filter((x) => !x.intentional).length >= this.size) return;
        w = this.spawn();
      }
      const task = this.queue.shift()!;
      task.attempts++;
      w.task = task;
      task.onStart(w.pid);
      this.post(w, { ...task.request, id: task.id } as ToWorker);
    }
  }

  private spawn(): Worker {
    const proc = fork(this.script, [], {
      execArgv: [`--max-old-space-size=${this.memoryMB}`],
      serialization: 'advanced', // typed arrays (the noise responses) cross as such
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const w: Worker = { proc, pid: proc.pid ?? -1, intentional: false };
    this.workers.push(w);
    proc.stdout?.on('data', (d) => this.events.log(`worker ${w.pid}: ${String(d).trimEnd()}`));
    proc.stderr?.on('data', (d) => this.events.log(`worker ${w.pid} (stderr): ${String(d).trimEnd()}`));
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
    if (this.workers.filter((x) => !x.intentional).length > this.size) this.stop(w);
    this.pump();
  }

  private onMessage(w: Worker, m: FromWorker): void {
    if (m.type === 'ready') return;
    if (!w.task || w.task.id !== m.id) return; // a late message of a job already given up on
    if (m.type === 'progress') w.task.onProgress(m.stage, m.fraction);
    else if (m.type === 'result') this.finish(w, { kind: 'result', report: m.report, modelOps: m.modelOps, batches: m.batches, ms: m.ms });
    else if (m.type === 'spectrum-result') this.finish(w, { kind: 'spectrum', state: m.state, ms: m.ms });
    else if (m.type === 'summary-result') this.finish(w, { kind: 'summary', summary: m.summary, ms: m.ms });
    else if (m.type === 'attack-result') this.finish(w, { kind: 'attack', report: m.report, ms: m.ms });
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
      else if (!w.intentional) {
        const retried = task.attempts < MAX_ATTEMPTS;
        this.restarts++;
        this.events.onCrash({ pid: w.pid, signal, code, taskId: task.id, retried });
        if (retried) this.queue.unshift(task);
        else task.resolve({ kind: 'failed', message: `the analysis process stopped (${signal ?? `exit code ${code}`}) twice on this model; it may need more memory than i2f.workerMemoryMB allows, or hit a crash in onnxruntime`, userError: false });
      }
    }
    this.pump();
  }

  private stop(w: Worker): void {
    w.intentional = true;
    w.proc.kill('SIGKILL');
  }
}
