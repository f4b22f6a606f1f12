// Runs node:test over test files (one file after another, each in its own process) with a per-test watchdog,
// and counts what ran into a Tally.
//
// The watchdog: Node 20's --test-timeout limits each whole file (measured: a file of three 3 s tests under
// --test-timeout=5000 dies in the second), and a test's own `timeout` option covers only that test. So the runner
// times the tests itself: node:test streams test:dequeue / test:complete from the test file's process as they
// happen (tools/testing/eventsReporter.mjs, into a file read as it grows); when the innermost running test (or
// hook, or a file's loading) has made no progress for I2F_TEST_TIMEOUT seconds (default 900), the process group is
// killed, that test is counted failed by name, and the files after it run in a fresh process. A hung test costs CI
// fifteen minutes of its ninety instead of all of them.
//
// Progress is a test event, or CPU time spent by the file's process group (the test, the CLIs and servers it
// starts, their workers; read from /proc where there is one) at a rate no waiting process reaches: a test that
// computes is not hung, however loaded the machine. One test analyses every example config with its spectrum and sends no event until done: 154 s at load 12
// and 563 s at load 14-17 (niced) on this 2-core machine, against the 900 s that killed it by events alone. A hung
// test waits without computing (a promise never settled, a server never answering) and is still killed at 900 s;
// one that computes without end is stopped by its own timeout, or at the ceiling of twice the limit (30 minutes,
// the longest test timeout in the suites) as a last resort. 900 s without progress: six times that slowest test at
// load 12, and ten times the whole CI run's 885 s spread over its ~100 files.
import { spawn } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve as absolute } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPORTER = fileURLToPath(new URL('./eventsReporter.mjs', import.meta.url));

export const DEFAULT_TIMEOUT_SECONDS = 900;
/** Share of one core a test's process group must use over a window for its CPU time to count as progress. */
const BUSY_SHARE = 0.05;

let clockTicks;
/**
 * CPU seconds (user + system, with those of reaped children) of the processes in process group `pgid`, from
 * /proc/<pid>/stat; undefined where /proc is absent (then only test events count as progress).
 */
export function groupCpuSeconds(pgid) {
  let names;
  try { names = readdirSync('/proc'); } catch { return undefined; }
  clockTicks ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;
  let ticks = 0;
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try { stat = readFileSync(`/proc/${name}/stat`, 'utf8'); } catch { continue; } // exited meanwhile
    // After "pid (comm) ": state, ppid, pgrp, …; utime, stime, cutime, cstime are fields 14–17 (proc(5)).
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(f[2]) === pgid) ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return ticks / clockTicks;
}

/** Test files (`*.test.ts`) under the given folders, or the files themselves, sorted. */
export function findTestFiles(paths) {
  const find = (p) => (statSync(p).isDirectory() ? readdirSync(p).flatMap((n) => find(join(p, n))) : p.endsWith('.test.ts') ? [p] : []);
  return paths.flatMap((p) => (statSync(p).isFile() ? [p] : find(p).sort()));
}

/**
 * Runs `files` under node:test (spec report on stdout) and adds what they did to `tally`.
 * @param {string[]} files
 * @param {{ tally: import('./tally.mjs').Tally, env?: NodeJS.ProcessEnv, timeoutSeconds?: number }} options
 */
export async function runNodeTests(files, { tally, env = process.env, timeoutSeconds = Number(process.env.I2F_TEST_TIMEOUT) || DEFAULT_TIMEOUT_SECONDS }) {
  let remaining = files;
  while (remaining.length) {
    const { completed, hung } = await runBatch(remaining, { tally, env, timeoutSeconds });
    if (!hung) break;
    // Every file not reported complete, but the one that hung, runs again in a new process.
    remaining = remaining.filter((f) => !completed.has(f) && f !== hung);
  }
}

function runBatch(files, { tally, env, timeoutSeconds }) {
  return new Promise((resolve) => {
    // --test-force-exit: a file whose tests have all reported ends there, even if a handle lingers (seen once in
    // CI: the fault tests' file passed all five tests and then idled with only stdout/stderr open). Orphaned
    // processes are tested explicitly (test/robustness/faults.test.ts), so this hides no leak we test for.
    const dir = mkdtempSync(join(tmpdir(), 'i2f-test-events-'));
    const eventsFile = join(dir, 'events.jsonl');
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-force-exit',
      '--test-reporter=spec', '--test-reporter-destination=stdout', `--test-reporter=${REPORTER}`, `--test-reporter-destination=${eventsFile}`,
      ...files], { stdio: ['ignore', 'inherit', 'inherit'], env, detached: true });
    const killGroup = () => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ } };
    const onSignal = (signal) => { killGroup(); process.kill(process.pid, signal); };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);

    const abs = new Map(files.map((f) => [absolute(f), f]));
    const fileOf = (p) => abs.get(p) ?? (p ? relative(process.cwd(), p) : p);
    const completed = new Set();
    let current;
    /** What is running now, outermost first: the file, its suites and tests, each with when it started. */
    const running = [];
    const key = (e) => `${e.file}\0${e.nesting}\0${e.name}\0${e.line}:${e.column}`;
    let lastProgress = Date.now();
    let lastEvent = Date.now();
    let hung;
    const failedBefore = tally.failed;

    // The reporter's file, read as it grows (a pipe on an extra fd would be a socket node:test cannot open by path).
    let fd;
    let offset = 0;
    let partial = '';
    const buffer = Buffer.alloc(1 << 16);
    const drain = () => {
      try { fd ??= openSync(eventsFile, 'r'); } catch { return; }
      for (let n; (n = readSync(fd, buffer, 0, buffer.length, offset)) > 0;) {
        offset += n;
        const lines = (partial + buffer.toString('utf8', 0, n)).split('\n');
        partial = lines.pop();
        for (const line of lines) onEvent(line);
      }
    };
    const onEvent = (line) => {
      let e;
      try { e = JSON.parse(line); } catch { return; }
      if (e.event === 'test:dequeue') {
        if (e.nesting === 0 && abs.has(e.name)) current = abs.get(e.name);
        running.push({ key: key(e), name: e.name, file: e.file });
        lastProgress = lastEvent = Date.now();
      } else if (e.event === 'test:complete') {
        const at = running.findLastIndex((r) => r.key === key(e));
        if (at >= 0) running.length = at;
        lastProgress = lastEvent = Date.now();
        if (e.nesting === 0 && abs.has(e.name)) completed.add(abs.get(e.name));
      } else if (e.event === 'test:pass' || e.event === 'test:fail') {
        // Files run one at a time: a test belongs to the file being run (e.file is where it was declared, which
        // for tests declared through test/support/requirements.ts is that module).
        count(tally, e, current ?? fileOf(e.file));
      }
    };

    // CPU progress, looked at over windows of 60 s (half the limit when that is shorter): the group used at least
    // BUSY_SHARE of one core in the window. A waiting test's processes (node:test, tsx's esbuild service, timers)
    // use about 1% (measured: 0.07 s of CPU in 10 s); a computing one far more (the HTML audit test niced at load
    // 14-17 still got about a quarter of a core).
    const windowMs = Math.min(60, timeoutSeconds / 2) * 1000;
    let window = { at: Date.now(), cpu: groupCpuSeconds(child.pid) };
    const watchdog = setInterval(() => {
      drain();
      if (hung || !running.length) return;
      if (Date.now() - window.at >= windowMs) {
        const cpu = groupCpuSeconds(child.pid);
        const busy = cpu !== undefined && window.cpu !== undefined && cpu - window.cpu >= BUSY_SHARE * (Date.now() - window.at) / 1000;
        if (busy && Date.now() - lastEvent < 2 * timeoutSeconds * 1000) lastProgress = Date.now();
        window = { at: Date.now(), cpu };
      }
      if (Date.now() - lastProgress < timeoutSeconds * 1000) return;
      const top = running[running.length - 1];
      hung = current ?? fileOf(top.file);
      const what = abs.has(top.name) ? `loading ${hung}` : `'${top.name}' in ${hung}`;
      const why = Date.now() - lastEvent >= 2 * timeoutSeconds * 1000
        ? `computed for ${2 * timeoutSeconds} s without finishing (twice I2F_TEST_TIMEOUT)`
        : `made no progress for ${timeoutSeconds} s (I2F_TEST_TIMEOUT)`;
      tally.failed += 1;
      tally.failures.push(`${what} ${why}: killed; the rest of that file did not run`);
      console.error(`\n✖ watchdog: ${what} ${why}: killing its process\n`);
      killGroup();
    }, 250);

    child.on('close', (code, signal) => {
      clearInterval(watchdog);
      drain();
      if (fd !== undefined) closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (!hung && code !== 0 && tally.failed === failedBefore) {
        // node:test exits 1 on any failure it reported; anything else with nothing reported is the runner dying.
        tally.failed += 1;
        tally.failures.push(`node --test exited ${code ?? signal} without reporting a failure`);
      }
      resolve({ completed, hung });
    });
  });
}

/** node:test's own rules, test by test: a skipped or todo test is skipped, suites count through their tests. */
function count(tally, e, file) {
  if (e.event === 'test:pass') {
    // A suite skipped whole never declares its tests: it counts as one (test/support/requirements.ts skips test
    // by test instead, so each is counted).
    if (e.suite && e.skip === undefined) return;
    if (e.skip !== undefined) tally.skip(e.suite ? `${e.skip} (a whole suite, counted as one)` : e.skip, file);
    else if (e.todo !== undefined) tally.skip(`todo${e.todo ? `: ${e.todo}` : ''}`, file);
    else tally.passed += 1;
    return;
  }
  // A parent whose subtests failed is counted through them. A suite whose hook failed counts too: its tests are
  // reported cancelled, but an `after` hook can fail after they all passed.
  if (e.failureType === 'subtestsFailed') return;
  tally.failed += 1;
  if (e.nesting === 0 && e.name === e.file) tally.failures.push(`${file}: ${e.message ?? e.failureType}`);
}
