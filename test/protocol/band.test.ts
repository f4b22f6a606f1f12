// An answer that sharpens while it runs (issue 18, part 3), over real LSP: the server publishes the I²F's graded band
// while the solve runs (I2F001 "so far", λmax, I_lb), the status item carries it, and a solve stopped by the budget
// reports its band instead of "uncertain". The budget's clock is injected into the worker (I2F_TEST_CLOCK_TICK_MS:
// each reading advances it by that much), so the stop comes after the same iterations on any machine: no wall clock.

import test from 'node:test';
import assert from 'node:assert/strict';
import type { Diagnostic, Hover } from 'vscode-languageserver';
import { addDpConfig } from './fixtures';
import { startServer, type Session } from './lspClient';

const TIMEOUT = { timeout: 180_000 };
const leakage = (d: Diagnostic[]) => d.find((x) => x.code === 'I2F001');
const PROVISIONAL = /^Leakage risk (HIGH|MEDIUM|LOW)( \(provisional: [^)]*\))? so far \(the I²F solve is running: (?:batch \d+\/\d+, )?(?:solve-noise|solve-deterministic|trace) iteration (\d+)\)/;
const SEVERITY = { HIGH: 1, MEDIUM: 2, LOW: 3 } as const;
/** λmax while its Lanczos runs alongside the solves (a Ritz value so far, no I_lb), or converged with I_lb. */
const LAMBDA = /λmax ≥ ([\d.e+-]+) so far \(its Lanczos is running(?:, step \d+)?\); the lower bound I_lb follows once it has converged\.|λmax ([\d.e+-]+), lower bound I_lb ([\d.e+-]+)\./;

/** Every I2F001 message the server published for `uri`, in order, until `done` holds for one. */
function recordLeakage(s: Session, uri: string): Diagnostic[] {
  const seen: Diagnostic[] = [];
  s.connection.onNotification('textDocument/publishDiagnostics', (p: { uri: string; diagnostics: Diagnostic[] }) => {
    s.diagnostics.set(p.uri, p.diagnostics); // keep the session's own bookkeeping (this handler replaces its)
    const f = p.uri === uri ? leakage(p.diagnostics) : undefined;
    if (f) seen.push(f);
  });
  return seen;
}

test('the graded band is published from the first iterations, before the result, and never more comforting than it', TIMEOUT, async () => {
  const s = await startServer({ prepare: addDpConfig, settings: { provisionalFindings: true } });
  try {
    const uri = s.uri('dp/train.yaml');
    const seen = recordLeakage(s, uri);
    s.open('dp/train.yaml');
    const final = await s.waitFor('the final I2F001', () => seen.find((f) => !PROVISIONAL.test(f.message)));
    const before = seen.slice(0, seen.indexOf(final));
    assert.ok(before.length >= 3, `provisional findings before the result: ${before.length}`);
    const first = before[0].message.match(PROVISIONAL)!;
    assert.equal(first[3], '1', 'the first band comes from the first CG iteration');
    for (const f of before) {
      const m = f.message.match(PROVISIONAL);
      assert.ok(m, `provisional: ${f.message}`);
      assert.match(f.message, /the iterates put the expected I²F (between [\d.e+-]+ and [\d.e+-]+|at least [\d.e+-]+) \((both ends bounds|upper end estimated|no upper end yet)\), graded PSNR/);
      assert.match(f.message, LAMBDA);
      assert.match(f.message, /T from \d of 2 trace probes; their sampling spread is not in the band/);
      // The severity is the conservative end's, never less severe than the converged answer's.
      assert.equal(f.severity, SEVERITY[m[1] as keyof typeof SEVERITY]);
      assert.ok(f.severity! <= final.severity!, `shown ${m[1]} before the result's severity ${final.severity}`);
    }
    // The band narrows to a settled grade: the last provisional finding before the result is graded on it.
    const last = before[before.length - 1].message.match(PROVISIONAL)!;
    assert.equal(last[2], undefined, `settled by the end: ${before[before.length - 1].message}`);
    assert.match(final.message, new RegExp(`^Leakage risk ${last[1]}:`));
    // λmax's Lanczos runs alongside the solves (engine/influence.ts lambdaMaxAlongside): the first band does not wait
    // for it, shows its Ritz value so far as a floor and claims no I_lb; once converged, λmax and I_lb are the result's.
    const lambdas = before.map((f) => f.message.match(LAMBDA)!);
    assert.ok(lambdas[0][1] !== undefined, `the first band came before λmax had converged: ${before[0].message}`);
    const converged = lambdas.findIndex((m) => m[2] !== undefined);
    if (converged >= 0) assert.ok(lambdas.slice(converged).every((m) => m[2] !== undefined), 'once converged, λmax stays so');
    const hover = (await s.connection.sendRequest('textDocument/hover', { textDocument: { uri }, position: { line: 5, character: 4 } })) as Hover;
    const lambdaMax = Number((hover.contents as { value: string }).value.match(/\| λmax of J Jᵀ \| ([\d.e+-]+) \|/)![1]);
    for (const m of lambdas) {
      // Shown to 3 digits: a floor never above the result's λmax (a larger one would make I_lb too comforting later).
      if (m[1] !== undefined) assert.ok(Number(m[1]) <= lambdaMax * 1.005, `λmax ≥ ${m[1]} shown while running; the result's ${lambdaMax}`);
      else assert.ok(Math.abs(Number(m[2]) - lambdaMax) <= 0.005 * lambdaMax, `λmax ${m[2]} shown; the result's ${lambdaMax}`);
    }
    // The status item showed the band beside the progress.
    assert.ok(s.statuses.some((st) => /I²F: analysing train\.yaml \d+% · PSNR [\d.-]+(–[\d.-]+)? dB/.test(st.text) && /risk so far/.test(st.detail ?? '')), s.statuses.map((x) => x.text).join('\n'));
  } finally {
    await s.close();
  }
});

test('a solve stopped by the budget (injected clock) reports its band, graded, in the finding and the hover', TIMEOUT, async () => {
  process.env.I2F_TEST_CLOCK_TICK_MS = '1000';
  let s: Session | undefined;
  try {
    s = await startServer({ prepare: addDpConfig, settings: { solveBudgetSeconds: 6, provisionalFindings: true } });
    delete process.env.I2F_TEST_CLOCK_TICK_MS;
    const uri = s.uri('dp/train.yaml');
    const seen = recordLeakage(s, uri);
    s.open('dp/train.yaml');
    const final = await s.waitFor('the final I2F001', () => seen.find((f) => !PROVISIONAL.test(f.message)));
    assert.match(final.message, /^Leakage risk (HIGH|MEDIUM|LOW)( \(provisional: [^)]*\))?: the solve budget of 6 s ran out at relative residual [\d.e+-]+ after \d+ iterations/);
    assert.match(final.message, /its iterates put the expected I²F (between|at least) [\d.e+-]+/);
    assert.match(final.message, /Raise i2f\.solveBudgetSeconds to narrow the band\./);
    assert.doesNotMatch(final.message, /UNCERTAIN/);
    assert.ok(seen.indexOf(final) > 0, 'provisional bands came first');
    const hover = (await s.connection.sendRequest('textDocument/hover', { textDocument: { uri }, position: { line: 5, character: 4 } })) as Hover;
    const text = (hover.contents as { value: string }).value;
    for (const part of ['Expected I²F (band from the CG iterates)', 'Graded PSNR band', 'Not in the band | T from 1 of 2 trace probes', 'NOT converged']) {
      assert.ok(text.includes(part), `hover has '${part}':\n${text}`);
    }
  } finally {
    delete process.env.I2F_TEST_CLOCK_TICK_MS;
    await s?.close();
  }
});
