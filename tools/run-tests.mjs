// Runs node:test over test files (Node 20's --test takes no globs) with a per-test watchdog, and closes with the
// skipped tests by reason and `N passed, N failed, N skipped`: `node tools/run-tests.mjs [dir|file…]`.
// `npm test` (tools/test.mjs) runs the same over every suite, after installing what they need.
import { findTestFiles, runNodeTests } from './testing/nodeTests.mjs';
import { Tally } from './testing/tally.mjs';

const paths = process.argv.slice(2).length ? process.argv.slice(2) : ['test/unit'];
const tally = new Tally();
await runNodeTests(findTestFiles(paths), { tally });
console.log(tally.closing());
process.exit(tally.failed ? 1 : 0);
