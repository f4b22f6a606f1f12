// What a test command ran, skipped and failed, from every runner it used (node:test, the mocha suite in the
// extension host) and every step around them, and the closing lines that say so: the skipped tests grouped by
// reason with the command that enables them, then `N passed, N failed, N skipped` alone on the last line.
import { relative } from 'node:path';

export class Tally {
  passed = 0;
  failed = 0;
  /** reason → { count, files: Map<file, count>, enable } */
  skipped = new Map();
  /** One line per failure that a runner's own report may not show at the end: steps, watchdog kills, crashes. */
  failures = [];

  skip(reason, file, count = 1, enable = undefined) {
    const why = reason || 'skipped by the test itself';
    const entry = this.skipped.get(why) ?? { count: 0, files: new Map(), enable };
    entry.count += count;
    const where = file ? relative(process.cwd(), file) : '';
    entry.files.set(where, (entry.files.get(where) ?? 0) + count);
    entry.enable ??= enable;
    this.skipped.set(why, entry);
  }

  /** A step that is not a test (installing packages, the build, the type-check) failed: one failure, said why. */
  stepFailed(step, why) {
    this.failed += 1;
    this.failures.push(`step '${step}' failed: ${why}`);
  }

  get skippedCount() {
    let n = 0;
    for (const e of this.skipped.values()) n += e.count;
    return n;
  }

  /** The closing lines; the last is the plain `N passed, N failed, N skipped` that CI reads. */
  closing() {
    const lines = [''];
    if (this.failures.length) {
      lines.push('Failures outside the test reports above:');
      for (const f of this.failures) lines.push(`  ✖ ${f}`);
    }
    if (this.skippedCount) {
      lines.push(`Skipped ${this.skippedCount} test${this.skippedCount === 1 ? '' : 's'}:`);
      for (const [reason, e] of [...this.skipped].sort((a, b) => b[1].count - a[1].count)) {
        const files = [...e.files].map(([f, n]) => (f ? `${f} (${n})` : `${n}`)).join(', ');
        lines.push(`  ${e.count} × ${reason}`);
        if (e.enable) lines.push(`      enable: ${e.enable}`);
        lines.push(`      in ${files}`);
      }
    }
    lines.push(`${this.passed} passed, ${this.failed} failed, ${this.skippedCount} skipped`);
    return lines.join('\n');
  }
}
