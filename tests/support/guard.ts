/**
 * Preloaded into every test process: an unhandled promise rejection or an
 * uncaught exception anywhere counts as a failure, even if every assertion
 * passed. The runner reads the GUARD line this prints at exit.
 */
let problems = 0;

process.on('unhandledRejection', (reason) => {
  problems++;
  console.error('unhandled rejection:', reason);
});
process.on('uncaughtException', (error) => {
  problems++;
  console.error('uncaught exception:', error);
});
process.on('exit', () => {
  if (problems > 0) {
    console.log(`GUARD: ${problems} unhandled`);
    process.exitCode = 1;
  }
});
