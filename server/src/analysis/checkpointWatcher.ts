// The server's checkpoint watching: looks every few seconds at the checkpoints each analysed config's training
// writes (workspace/checkpointWatch.ts says which and when a write is complete), points the config's analysis at
// the latest complete one, and records each analysed checkpoint's leakage in the history (checkpointHistory.ts).
// Polling, not file events: the client's watcher may be absent (neovim), and a write in progress sends many events
// but only a stable size (and an end record) says it is over.

import { dirname } from 'node:path';
import type { DiscoveredConfig } from '../workspace/discover';
import { CheckpointTracker, watchTargets, type CompleteCheckpoint, type WatchTargets } from '../workspace/checkpointWatch';
import { CheckpointHistoryStore, historyEntryOf } from './checkpointHistory';
import type { AnalyzeReport } from './analyzeModel';

const LOCAL = (p?: { resolved: string }) => (p && !/^[a-z][a-z0-9+.-]*:\/\//i.test(p.resolved) ? p.resolved : undefined);

export interface WatchedConfig {
  path: string;
  config: DiscoveredConfig;
}

export class CheckpointWatcher {
  readonly history: CheckpointHistoryStore;
  private readonly trackers = new Map<string, CheckpointTracker>();
  /** Per config, the checkpoint whose analysis is under way (target()). */
  private readonly pinned = new Map<string, string>();
  private timer?: NodeJS.Timeout;
  private looking = false;
  /** Completed looks over every config (tests wait on it instead of sleeping). */
  looks = 0;

  constructor(
    storagePath: string,
    private readonly opts: {
      /** The configs to watch now (analysed ones: open or audited, in a trusted workspace). */
      configs: () => WatchedConfig[];
      /** A checkpoint of this config finished being written. */
      onCheckpoint: (configPath: string, checkpoint: CompleteCheckpoint) => void;
      log: (message: string) => void;
    },
  ) {
    this.history = new CheckpointHistoryStore(storagePath);
  }

  start(intervalMs: number): void {
    this.stop();
    this.timer = setInterval(() => void this.lookOnce(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** What a config's training writes, from the keys it names (its weights, its output folder). */
  static targetsOf(config: DiscoveredConfig): WatchTargets {
    const outputDir = LOCAL(config.setup.outputDir);
    return watchTargets({ weights: LOCAL(config.setup.weights), outputDirs: outputDir ? [outputDir] : [] });
  }

  async lookOnce(): Promise<void> {
    if (this.looking) return;
    this.looking = true;
    try {
      const seen = new Set<string>();
      for (const { path, config } of this.opts.configs()) {
        seen.add(path);
        const targets = CheckpointWatcher.targetsOf(config);
        if (!targets.folders.length && !targets.paths.length) continue;
        let tracker = this.trackers.get(path);
        if (!tracker) this.trackers.set(path, (tracker = new CheckpointTracker()));
        try {
          const fresh = await tracker.look(targets, dirname(path));
          for (const c of fresh) {
            this.opts.log(`checkpoint ${c.name}${c.step !== undefined ? ` (step ${c.step})` : ''} of ${path} is complete`);
            this.opts.onCheckpoint(path, c);
          }
        } catch (e) {
          this.opts.log(`looking for checkpoints of ${path} failed: ${(e as Error).message}`);
        }
      }
      for (const p of [...this.trackers.keys()]) {
        if (seen.has(p)) continue;
        this.trackers.delete(p);
        this.pinned.delete(p);
      }
    } finally {
      this.looking = false;
      this.looks++;
    }
  }

  /**
   * The checkpoint a config's analysis is about: the one pinned while its analysis runs, else the latest complete
   * one. Pinning matters when training writes checkpoints faster than one is analysed: switching to each newer one
   * would cancel the running analysis every time, and none would ever finish.
   */
  private target(configPath: string): CompleteCheckpoint | undefined {
    const tracker = this.trackers.get(configPath);
    if (!tracker) return undefined;
    const pin = this.pinned.get(configPath);
    if (pin) {
      const pinned = tracker.completeAt(pin);
      if (pinned) return pinned;
      this.pinned.delete(configPath); // rewritten or removed since: the latest decides again
    }
    return tracker.latest();
  }

  /**
   * Points the config at the checkpoint to analyse (see target) and pins it until its result is recorded. Returns
   * what the analysis should wait for instead: a checkpoint the config names that is still being written.
   */
  applyLatest(configPath: string, config: DiscoveredConfig): { waitingFor?: string } {
    const tracker = this.trackers.get(configPath);
    if (!tracker) return {};
    const target = this.target(configPath);
    if (config.weights && tracker.waiting.has(config.weights) && (!target || target.path === config.weights)) return { waitingFor: config.weights };
    if (!target) return {};
    this.pinned.set(configPath, target.path);
    if (target.path !== config.weights) {
      config.weights = target.path;
      config.checkpoint = { name: target.name, ...(target.step !== undefined ? { step: target.step } : {}) };
    }
    return {};
  }

  /**
   * Records the analysis of a config whose weights are the watched checkpoint (once per checkpoint and result),
   * unpins it, and asks for the next one when training has written a newer checkpoint meanwhile.
   */
  async record(configPath: string, config: DiscoveredConfig, report: AnalyzeReport, key: string, analysedAt: string): Promise<boolean> {
    const target = this.target(configPath);
    if (!target || target.path !== config.weights) return false;
    const added = await this.history.record(configPath, { ...historyEntryOf(target, report, key, analysedAt), signature: target.signature });
    this.release(configPath, target.path);
    return added;
  }

  /** The pinned checkpoint's analysis ended (recorded, or failed): the latest, if it is another one, is next. */
  release(configPath: string, done?: string): void {
    const pin = this.pinned.get(configPath);
    if (!pin || (done !== undefined && pin !== done)) return;
    this.pinned.delete(configPath);
    const latest = this.trackers.get(configPath)?.latest();
    if (latest && latest.path !== pin) this.opts.onCheckpoint(configPath, latest);
  }
}
