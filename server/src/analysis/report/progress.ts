// Progress of an audit on stderr. On a terminal: one redrawn line with a bar, the configs done and what is running
// (at most ~10 redraws a second). Elsewhere (CI logs): one line when a config starts and one when it is done.

import type { Writable } from 'node:stream';
import type { ConfigOutcome } from './model';

interface Running {
  label: string;
  stage: string;
  fraction: number;
}

export class Progress {
  private total = 0;
  private finished = 0;
  private readonly running = new Set<Running>();
  private lastDraw = 0;
  private drawn = false;

  constructor(private readonly err: Writable, private readonly opts: { tty: boolean; quiet: boolean }) {}

  addTotal(n: number): void {
    this.total += n;
  }

  log(message: string): void {
    if (this.opts.quiet) return;
    this.clear();
    this.err.write(`i2f: ${message}\n`);
  }

  start(label: string): { update: (stage: string, fraction: number) => void; done: (o: ConfigOutcome) => void } {
    const r: Running = { label, stage: 'starting', fraction: 0 };
    this.running.add(r);
    const t0 = performance.now();
    if (!this.opts.tty && !this.opts.quiet) this.err.write(`[${this.finished + this.running.size}/${this.total}] ${label}\n`);
    this.draw(true);
    return {
      update: (stage, fraction) => {
        r.stage = stage;
        r.fraction = fraction;
        this.draw(false);
      },
      done: (o) => {
        this.running.delete(r);
        this.finished++;
        if (!this.opts.tty && !this.opts.quiet && o.status !== 'not-analysed') {
          const risk = o.findings.find((f) => f.risk)?.risk;
          this.err.write(`      ${label}: ${o.status}${risk ? `, risk ${risk}` : ''}${o.status === 'analysed' ? ` in ${((performance.now() - t0) / 1000).toFixed(1)} s` : ''}\n`);
        }
        this.draw(true);
      },
    };
  }

  private draw(force: boolean): void {
    if (!this.opts.tty) return;
    const now = performance.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const width = 20;
    const fraction = this.total ? (this.finished + [...this.running].reduce((s, r) => s + r.fraction, 0)) / this.total : 0;
    const filled = Math.round(Math.min(1, fraction) * width);
    const current = [...this.running][0];
    const columns = (this.err as NodeJS.WriteStream).columns ?? 100;
    const line = `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${this.finished}/${this.total}${current ? `  ${current.label}: ${current.stage} ${Math.round(current.fraction * 100)}%` : ''}${this.running.size > 1 ? ` (+${this.running.size - 1})` : ''}`;
    this.err.write(`\r\x1b[2K${line.slice(0, Math.max(20, columns - 1))}`);
    this.drawn = true;
  }

  private clear(): void {
    if (this.drawn) this.err.write('\r\x1b[2K');
    this.drawn = false;
  }

  finish(): void {
    this.clear();
  }
}
