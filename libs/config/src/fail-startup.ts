import { DataDirectoryLockedError } from '@libs/event-store';
import { ConfigError } from './app-config';
import { exitWhenFlushed } from './exit-when-flushed';

/**
 * Ends a process that could not start. An operator's mistake (a bad setting,
 * a data directory in use) gets its one-line message; anything else its stack.
 */
export function failStartup(error: unknown): void {
  if (error instanceof ConfigError) console.error(`Configuration error: ${error.message}`);
  else if (error instanceof DataDirectoryLockedError) console.error(error.message);
  else console.error(error);
  exitWhenFlushed(1);
}
