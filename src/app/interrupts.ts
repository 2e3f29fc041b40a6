// SIGINT and SIGTERM, in one place. While a build or a watch runs, the first signal aborts `stop`
// (nothing new starts; running steps get SIGTERM, and one that ignores it is killed after a grace
// period, as `docker stop` does) and the second aborts `kill` (running steps are killed at once).
// Either way the build then ends as usual: results recorded, staging cleared, the summary, exit 130.
// Listeners are removed when the run is done, so the signals' default action applies again.

/** What signals come from: the process, or an emitter in tests. */
export interface SignalSource {
  on(signal: 'SIGINT' | 'SIGTERM', listener: (signal: NodeJS.Signals) => void): unknown;
  once(signal: 'SIGINT' | 'SIGTERM', listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: 'SIGINT' | 'SIGTERM', listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface Interrupts {
  /** Aborted by the first signal: stop the running steps. */
  readonly stop: AbortSignal;
  /** Aborted by the second: kill them at once. */
  readonly kill: AbortSignal;
  /** Resolves at the first signal. */
  stopped(): Promise<void>;
  /** Stops listening. */
  close(): void;
}

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** A line for people, on stderr (stdout may carry NDJSON). */
const sayOnStderr = (line: string): void => void process.stderr.write(line + '\n');

export function listenForInterrupts(say: (line: string) => void = sayOnStderr, source: SignalSource = process): Interrupts {
  const stopper = new AbortController();
  const killer = new AbortController();
  let count = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    count++;
    if (count === 1) {
      say(`\nmlc-build: ${signal}: stopping the running steps (again to kill them at once)`);
      stopper.abort();
    } else {
      say(`mlc-build: ${signal}: killing the running steps`);
      killer.abort();
    }
  };
  for (const s of SIGNALS) source.on(s, onSignal);
  return {
    stop: stopper.signal,
    kill: killer.signal,
    stopped: () => aborted(stopper.signal),
    close: () => {
      for (const s of SIGNALS) source.off(s, onSignal);
    },
  };
}

/**
 * For work with nothing to kill (the toolchain command setting up its environment): the first
 * signal aborts quietly, and a second one ends the process as the signal's default does.
 */
export function abortOnInterrupt(source: SignalSource = process): { signal: AbortSignal; close(): void } {
  const controller = new AbortController();
  const stop = () => {
    controller.abort();
  };
  for (const s of SIGNALS) source.once(s, stop);
  return {
    signal: controller.signal,
    close: () => {
      for (const s of SIGNALS) source.off(s, stop);
    },
  };
}

function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    signal.addEventListener(
      'abort',
      () => {
        resolve();
      },
      { once: true },
    );
  });
}
