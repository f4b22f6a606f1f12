// Number formatting for the pages: JSON turns ±Infinity into null, so both read as "∞".

export function num(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return x !== null && x !== undefined && Number.isNaN(x) ? '—' : '∞';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e4 || a < 1e-3) return x.toExponential(digits - 1).replace('e+', 'e');
  return Number(x.toPrecision(digits)).toString();
}

export function db(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '∞ dB' : `${x.toFixed(1)} dB`;
}

export function int(x: number): string {
  return x.toLocaleString('en-US');
}

/** CSV cell: quoted when it holds a comma, quote or newline. */
export function csvCell(x: unknown): string {
  const s = x === null || x === undefined ? '' : typeof x === 'number' ? (Number.isFinite(x) ? String(x) : 'Infinity') : String(x);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csv(rows: readonly (readonly unknown[])[]): string {
  return rows.map((r) => r.map(csvCell).join(',')).join('\n') + '\n';
}

/** Creates an element with classes and text: the pages build their DOM this way (no innerHTML with data). */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
