// Which analyses run: one job per cache key, shared by every config that needs it; a config that moves to another
// key drops its interest, and a job nobody wants is cancelled. Edits are debounced, so a burst of edits to a config
// yields one job for its final text.

import type { AnalyseJob, JobOutcome } from './jobs';
import type { ProvisionalBand } from './analyzeModel';
import type { WorkerPool } from './workerPool';

export interface Job {
  id: number;
  key: string;
  job: AnalyseJob;
  /** Config URIs waiting for this result. */
  interested: Set<string>;
  state: 'queued' | 'running';
  pid?: number;
  stage?: string;
  fraction?: number;
  startedAt?: number;
  /** The latest provisional answer of the running analysis (analyzeModel.ts ProvisionalBand). */
  band?: ProvisionalBand;
}

export interface SchedulerEvents {
  onStarted: (job: Job) => void;
  onProgress: (job: Job) => void;
  /** A new provisional answer (job.band). */
  onBand?: (job: Job) => void;
  /** Also called for cancelled jobs (outcome kind 'cancelled'), so views can drop their progress. */
  onDone: (job: Job, outcome: JobOutcome) => void;
  onQueued: (job: Job) => void;
}

export interface SchedulerStats {
  jobsQueued: number;
  jobsStarted: number;
  jobsFinished: number;
  jobsFailed: number;
  jobsCancelled: number;
  jobsRetried: number;
}

export class AnalysisScheduler {
  private readonly jobs = new Map<string, Job>();
  private readonly byConfig = new Map<string, string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private nextId = 1;
  readonly stats: SchedulerStats = { jobsQueued: 0, jobsStarted: 0, jobsFinished: 0, jobsFailed: 0, jobsCancelled: 0, jobsRetried: 0 };

  constructor(private readonly pool: WorkerPool, private readonly events: SchedulerEvents) {}

  /** The config at `uri` needs the analysis `key`; after `delayMs` of no newer request it is queued. */
  want(uri: string, key: string, job: AnalyseJob, delayMs = 0): void {
    clearTimeout(this.timers.get(uri));
    this.timers.delete(uri);
    const current = this.byConfig.get(uri);
    if (current !== undefined && current !== key) this.release(uri);
    if (this.jobs.has(key)) {
      // Already queued or running for this key: just wait for it.
      this.jobs.get(key)!.interested.add(uri);
      this.byConfig.set(uri, key);
      return;
    }
    if (delayMs > 0) {
      this.timers.set(uri, setTimeout(() => {
        this.timers.delete(uri);
        this.enqueue(uri, key, job);
      }, delayMs));
    } else this.enqueue(uri, key, job);
  }

  /** The config no longer needs any analysis (closed, changed to a cached key, untrusted, disabled). */
  release(uri: string): void {
    clearTimeout(this.timers.get(uri));
    this.timers.delete(uri);
    const key = this.byConfig.get(uri);
    this.byConfig.delete(uri);
    if (key === undefined) return;
    const job = this.jobs.get(key);
    if (!job) return;
    job.interested.delete(uri);
    if (job.interested.size === 0) this.cancelJob(job);
  }

  cancelAll(): number {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    const all = [...this.jobs.values()];
    for (const job of all) this.cancelJob(job);
    this.byConfig.clear();
    return all.length;
  }

  /** Jobs waiting on or running for any config. */
  list(): Job[] {
    return [...this.jobs.values()];
  }

  pendingFor(uri: string): Job | undefined {
    const key = this.byConfig.get(uri);
    return key === undefined ? undefined : this.jobs.get(key);
  }

  hasTimer(uri: string): boolean {
    return this.timers.has(uri);
  }

  /** Configs whose edits are still settling: each will queue an analysis when its debounce ends. */
  get debouncing(): number {
    return this.timers.size;
  }

  noteRetried(): void {
    this.stats.jobsRetried++;
  }

  private cancelJob(job: Job): void {
    this.jobs.delete(job.key);
    for (const [uri, key] of this.byConfig) if (key === job.key) this.byConfig.delete(uri);
    this.pool.cancel(job.id);
  }

  private enqueue(uri: string, key: string, analyse: AnalyseJob): void {
    const existing = this.jobs.get(key);
    if (existing) {
      existing.interested.add(uri);
      this.byConfig.set(uri, key);
      return;
    }
    const job: Job = { id: this.nextId++, key, job: analyse, interested: new Set([uri]), state: 'queued' };
    this.jobs.set(key, job);
    this.byConfig.set(uri, key);
    this.stats.jobsQueued++;
    this.events.onQueued(job);
    void this.pool
      .run(
        job.id,
        analyse,
        (stage, fraction) => {
          job.stage = stage;
          job.fraction = fraction;
          this.events.onProgress(job);
        },
        (pid) => {
          job.state = 'running';
          job.pid = pid;
          job.startedAt = Date.now();
          this.stats.jobsStarted++;
          this.events.onStarted(job);
        },
        (band) => {
          job.band = band;
          this.events.onBand?.(job);
        },
      )
      .then((outcome) => {
        if (this.jobs.get(key) === job) this.jobs.delete(key);
        for (const [u, k] of this.byConfig) if (k === key && job.interested.has(u)) this.byConfig.delete(u);
        if (outcome.kind === 'result') this.stats.jobsFinished++;
        else if (outcome.kind === 'failed') this.stats.jobsFailed++;
        else this.stats.jobsCancelled++;
        this.events.onDone(job, outcome);
      });
  }
}
