// Reads Stryker's JSON report (mutation-testing-report-schema) and writes the score per source folder
// to bench/results/mutation.json. Run after `stryker run` (npm run mutate does both).
//
// The scores follow Stryker's definitions (mutation-testing-metrics):
//   detected = killed + timeout, undetected = survived + noCoverage,
//   mutation_score = detected / (detected + undetected),
//   covered_score = detected / (detected + survived)   (mutants no unit test reaches left out).
// CompileError and RuntimeError mutants are invalid and Ignored ones are not tested: none count.
//
// A run narrowed with --mutate reports only some folders: those replace their entries in the results
// file and the others keep theirs, each with the date it was measured.
import { readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, relative } from 'node:path';

const REPORT = 'reports/mutation/mutation.json';
const RESULTS = 'bench/results/mutation.json';

/** `src/store/remote/bazel.ts` → `src/store`: the folders the README's table lists. */
function folderOf(file) {
  return file.split('/').slice(0, 2).join('/');
}

const STATUS_FIELDS = {
  Killed: 'killed',
  Timeout: 'timeout',
  Survived: 'survived',
  NoCoverage: 'no_coverage',
  CompileError: 'compile_errors',
  RuntimeError: 'runtime_errors',
  Ignored: 'ignored',
};

function emptyCounts() {
  return Object.fromEntries(Object.values(STATUS_FIELDS).map((field) => [field, 0]));
}

function percent(part, whole) {
  return whole === 0 ? null : Math.round((1000 * part) / whole) / 10;
}

const report = JSON.parse(await readFile(REPORT, 'utf8'));
const root = report.projectRoot ?? process.cwd();
const measured = new Date().toISOString();

const folders = new Map();
for (const [name, file] of Object.entries(report.files)) {
  const path = (isAbsolute(name) ? relative(root, name) : name).split('\\').join('/');
  const folder = folderOf(path);
  if (!folders.has(folder)) folders.set(folder, { files: [], counts: emptyCounts() });
  const entry = folders.get(folder);
  entry.files.push(path);
  for (const mutant of file.mutants) {
    const field = STATUS_FIELDS[mutant.status];
    if (field !== undefined) entry.counts[field]++;
  }
}

let previous = {};
try {
  previous = JSON.parse(await readFile(RESULTS, 'utf8')).folders ?? {};
} catch (e) {
  if (e.code !== 'ENOENT') throw e;
}

const merged = { ...previous };
for (const [folder, { files, counts }] of folders) {
  const detected = counts.killed + counts.timeout;
  merged[folder] = {
    measured,
    files: files.sort(),
    ...counts,
    mutation_score: percent(detected, detected + counts.survived + counts.no_coverage),
    covered_score: percent(detected, detected + counts.survived),
  };
}

const sorted = Object.fromEntries(Object.entries(merged).sort(([a], [b]) => a.localeCompare(b)));
const results = {
  date: measured,
  node: process.version,
  stryker: report.framework?.version ?? null,
  tests: 'test/unit (vitest.unit.config.ts); e2e files are not run',
  folders: sorted,
};
await writeFile(RESULTS, `${JSON.stringify(results, null, 2)}\n`);

for (const [folder, entry] of Object.entries(sorted)) {
  const score = entry.mutation_score === null ? 'n/a' : `${entry.mutation_score} %`;
  process.stdout.write(
    `${folder}: ${score} (${entry.killed + entry.timeout} detected, ${entry.survived} survived, ${entry.no_coverage} not covered; ${entry.measured.slice(0, 10)})\n`,
  );
}
