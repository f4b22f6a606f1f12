// The leakage of each checkpoint a config's training wrote, in order: what the spectrum panel and the audit's HTML
// report plot, so a user sees whether leakage grows as training goes on. One JSON file per config in the cache
// folder, written atomically (temp file + rename), so a crash never leaves half a history.

import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { CheckpointHistoryEntry, CheckpointHistoryView } from '../webviewProtocol';
import { expectedPsnr, worstBatch } from './configFindings';
import type { AnalyzeReport } from './analyzeModel';

const FORMAT = 1;
/** A long training run keeps its last this many checkpoints. */
const MAX_ENTRIES = 1_000;

/** The history entry of one analysed checkpoint (the most exposed batch decides, as in the finding). */
export function historyEntryOf(checkpoint: { name: string; path: string; step?: number }, report: AnalyzeReport, key: string, analysedAt: string): CheckpointHistoryEntry {
  const b = worstBatch(report);
  const psnr = expectedPsnr(b);
  // The lower bound ‖Jδ‖/λmax bounds the attacker's error from below, so it caps the attacker's PSNR from above:
  // the PSNR shown, moved by the ratio of the I²F error to the bound (the same grading applies to both).
  const i2f = b.i2fExpected ?? b.i2f;
  const lowerBoundPsnr = i2f > 0 && b.lowerBound > 0 && Number.isFinite(psnr) ? psnr + 20 * Math.log10(i2f / b.lowerBound) : undefined;
  return {
    checkpoint: checkpoint.name,
    path: checkpoint.path,
    ...(checkpoint.step !== undefined ? { step: checkpoint.step } : {}),
    psnr: Number.isFinite(psnr) ? psnr : null,
    lowerBound: Number.isFinite(b.lowerBound) ? b.lowerBound : null,
    lowerBoundPsnr: lowerBoundPsnr !== undefined && Number.isFinite(lowerBoundPsnr) ? lowerBoundPsnr : null,
    risk: b.risk,
    analysedAt,
    key,
  };
}

/** Entries in training order: by step, then by analysis time. */
export function sortHistory(entries: CheckpointHistoryEntry[]): CheckpointHistoryEntry[] {
  return [...entries].sort((a, b) => (a.step ?? Infinity) - (b.step ?? Infinity) || a.analysedAt.localeCompare(b.analysedAt));
}

export class CheckpointHistoryStore {
  private readonly loaded = new Map<string, CheckpointHistoryEntry[]>();
  private writes: Promise<void> = Promise.resolve();

  constructor(private readonly folder: string) {}

  private file(config: string): string {
    return join(this.folder, 'checkpoint-history', `${createHash('sha256').update(config).digest('hex').slice(0, 32)}.json`);
  }

  async get(config: string): Promise<CheckpointHistoryView> {
    let entries = this.loaded.get(config);
    if (!entries) {
      entries = [];
      try {
        const parsed = JSON.parse(await fs.readFile(this.file(config), 'utf8')) as { format?: number; config?: string; entries?: CheckpointHistoryEntry[] };
        if (parsed.format === FORMAT && parsed.config === config && Array.isArray(parsed.entries)) entries = parsed.entries;
      } catch {
        // none yet, or unreadable: an empty history (the next record rewrites it)
      }
      this.loaded.set(config, entries);
    }
    return { config, entries: sortHistory(entries) };
  }

  /** Records an entry; the same checkpoint analysed with the same result key is recorded once. Returns whether it was new. */
  async record(config: string, entry: CheckpointHistoryEntry): Promise<boolean> {
    const { entries } = await this.get(config);
    const list = this.loaded.get(config)!;
    if (entries.some((e) => e.path === entry.path && e.key === entry.key)) return false;
    // The same write analysed again under other settings: its entry now holds the numbers shown.
    const same = list.findIndex((e) => e.path === entry.path && entry.signature !== undefined && e.signature === entry.signature);
    if (same >= 0) list.splice(same, 1);
    list.push(entry);
    if (list.length > MAX_ENTRIES) list.splice(0, list.length - MAX_ENTRIES);
    const file = this.file(config);
    const body = JSON.stringify({ format: FORMAT, config, entries: list }, null, 1);
    this.writes = this.writes.then(async () => {
      await fs.mkdir(join(this.folder, 'checkpoint-history'), { recursive: true });
      const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
      await fs.writeFile(tmp, body);
      await fs.rename(tmp, file);
    }).catch(() => undefined);
    await this.writes;
    return true;
  }

  clearMemory(): void {
    this.loaded.clear();
  }
}
