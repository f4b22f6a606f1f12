// A stand-in analysis worker that fills its own JavaScript heap on any request until V8 kills it at
// --max-old-space-size: the pool must recognise V8's heap death (stderr "JavaScript heap out of memory") where the
// resident-memory watchdog is off or missing. Plain CommonJS: the pool forks it without tsx.
process.on('message', () => {
  const hoard = [];
  for (;;) hoard.push(Array.from({ length: 1024 }, (_, i) => ({ i, s: `x${i}` })));
});
process.on('disconnect', () => process.exit(0));
process.send({ type: 'ready', pid: process.pid });
