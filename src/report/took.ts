// A duration as build logs write it; the fast path (cli/fast.ts) prints the same.
export function tookText(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${(ms / 1000).toFixed(1)}s`;
}
