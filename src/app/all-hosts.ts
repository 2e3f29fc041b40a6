// --all-hosts, or the variable that does the same: one rule, read by the fast path too.
const YES = ['1', 'true', 'yes'];

export function allHostsRequested(flag: boolean | undefined, env: NodeJS.ProcessEnv): boolean {
  return flag === true || YES.includes((env.MLC_BUILD_ALL_HOSTS ?? '').toLowerCase());
}
