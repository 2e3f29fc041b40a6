// Tests that need a tool the machine may lack (git-lfs, Python). Off CI they are skipped when it is
// missing; on CI (CI set) a missing tool fails the run, naming the tool, instead of a silent skip.
export function lacks(tool: string, present: boolean): boolean {
  if (present) return false;
  if (process.env.CI) throw new Error(`${tool} is not installed: CI must run the tests that need it (install it in .ci/run)`);
  return true;
}
