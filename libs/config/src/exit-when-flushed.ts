/**
 * Ends the process with `code` once stdout and stderr have written all they
 * hold. `process.exit` right after a large write cuts it: Node writes to a
 * pipe asynchronously once the pipe is full (64 KiB on Linux), and exit does
 * not wait, so `npm run health -- --json | jq` would read half a report.
 */
export function exitWhenFlushed(code: number): void {
  let streamsLeft = 2;
  const flushed = () => {
    streamsLeft -= 1;
    // An error (the reader went away) ends the wait too: nothing more can be written.
    if (streamsLeft === 0) process.exit(code);
  };
  process.stdout.write('', flushed);
  process.stderr.write('', flushed);
}
