/**
 * Runs `close` once, on the first SIGINT or SIGTERM, for the example servers.
 * The listeners stay (`process.on`, not `once`): Ctrl-C under `npm start`
 * delivers SIGINT twice (to the whole process group, and again forwarded by
 * npm), and a second signal that found no listener left would kill the
 * process in the middle of its clean close.
 */
export function onShutdownSignal(close: () => Promise<unknown> | void): void {
  let closing = false;
  const onSignal = (): void => {
    if (closing) return;
    closing = true;
    Promise.resolve()
      .then(close)
      .catch((error: unknown) => {
        console.error(error);
        process.exitCode = 1;
      });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
