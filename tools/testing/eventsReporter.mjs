// A node:test reporter for tools/testing/nodeTests.mjs: one JSON line per event the runner needs, as it happens
// (test:dequeue and test:complete are streamed from the test files' processes in real time, which is what the
// per-test watchdog times), written to the destination the runner gives (a pipe on fd 3).
export default async function* eventsReporter(source) {
  for await (const event of source) {
    const d = event.data ?? {};
    const base = { event: event.type, file: d.file, name: d.name, nesting: d.nesting, line: d.line, column: d.column };
    switch (event.type) {
      case 'test:dequeue':
      case 'test:complete':
        yield `${JSON.stringify(base)}\n`;
        break;
      case 'test:pass':
      case 'test:fail': {
        const error = d.details?.error;
        yield `${JSON.stringify({
          ...base,
          suite: d.details?.type === 'suite',
          skip: d.skip === undefined ? undefined : d.skip === true ? '' : String(d.skip),
          todo: d.todo === undefined ? undefined : d.todo === true ? '' : String(d.todo),
          failureType: error?.failureType,
          message: error ? String(error.cause?.message ?? error.message ?? error).slice(0, 300) : undefined,
        })}\n`;
        break;
      }
      default:
        break;
    }
  }
}
