// GitLab CI YAML checked against the keywords GitLab documents (docs.gitlab.com/ci/yaml/): no
// JSON schema for it is on npm. Returns the problems found.
import { parse } from 'yaml';

const GLOBAL = new Set(['default', 'include', 'stages', 'variables', 'workflow', 'spec', 'image', 'services', 'cache', 'before_script', 'after_script']);
const JOB = new Set([
  'after_script',
  'allow_failure',
  'artifacts',
  'before_script',
  'cache',
  'coverage',
  'dast_configuration',
  'dependencies',
  'environment',
  'extends',
  'hooks',
  'identity',
  'id_tokens',
  'image',
  'inherit',
  'interruptible',
  'manual_confirmation',
  'needs',
  'pages',
  'parallel',
  'release',
  'resource_group',
  'retry',
  'rules',
  'script',
  'run',
  'secrets',
  'services',
  'stage',
  'tags',
  'timeout',
  'trigger',
  'variables',
  'when',
  'only',
  'except',
]);
const DEFAULT_STAGES = ['.pre', 'build', 'test', 'deploy', '.post'];

export function gitlabProblems(text: string): string[] {
  const doc = parse(text) as Record<string, unknown>;
  const problems: string[] = [];
  const stages = Array.isArray(doc.stages) ? (doc.stages as string[]) : DEFAULT_STAGES;
  const jobs = Object.entries(doc).filter(([k]) => !GLOBAL.has(k) && !k.startsWith('.'));
  const names = new Set(jobs.map(([k]) => k));
  for (const [name, job] of jobs) {
    if (typeof job !== 'object' || job === null || Array.isArray(job)) {
      problems.push(`${name}: not a job`);
      continue;
    }
    const j = job as Record<string, unknown>;
    for (const k of Object.keys(j)) if (!JOB.has(k)) problems.push(`${name}: unknown keyword ${k}`);
    if (!('script' in j) && !('trigger' in j) && !('extends' in j) && !('run' in j)) problems.push(`${name}: needs script, run, trigger or extends`);
    if ('script' in j && 'trigger' in j) problems.push(`${name}: a trigger job has no script`);
    if (typeof j.stage === 'string' && !stages.includes(j.stage)) problems.push(`${name}: stage ${j.stage} is not in stages`);
    for (const n of (j.needs as unknown[] | undefined) ?? []) {
      const need = typeof n === 'string' ? n : (n as { job?: string }).job;
      if (need === undefined || !names.has(need)) problems.push(`${name}: needs ${String(need)}, which is no job`);
    }
    const matrix = (j.parallel as { matrix?: Record<string, unknown>[] } | undefined)?.matrix;
    if (matrix !== undefined) {
      if (!Array.isArray(matrix)) problems.push(`${name}: parallel.matrix must be a list`);
      else {
        const count = matrix.reduce((a, m) => a + Object.values(m).reduce<number>((p, v) => p * (Array.isArray(v) ? v.length : 1), 1), 0);
        if (count > 200) problems.push(`${name}: parallel.matrix makes ${count} jobs (GitLab's limit is 200)`);
      }
    }
    const trigger = j.trigger as { include?: { artifact?: string; job?: string }[] } | undefined;
    for (const inc of trigger?.include ?? [])
      if (inc.artifact !== undefined && (inc.job === undefined || !names.has(inc.job))) problems.push(`${name}: trigger include artifact needs its job`);
    if (j.tags !== undefined && (!Array.isArray(j.tags) || (j.tags as unknown[]).some((t) => typeof t !== 'string')))
      problems.push(`${name}: tags must be a list of strings`);
  }
  return problems;
}
