// After each test file: remove the temporary projects it made.
import { rm } from 'node:fs/promises';
import { afterAll } from 'vitest';
import { TEMP_DIRS } from './helpers/cli.js';

afterAll(async () => {
  await Promise.all(TEMP_DIRS.splice(0).map((d) => rm(d, { recursive: true, force: true, maxRetries: 3 })));
});
