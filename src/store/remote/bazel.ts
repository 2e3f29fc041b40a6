// The Bazel HTTP cache protocol's action result, in its JSON form. We send only the format's own
// fields (bazel-remote refuses an unknown top-level field) in snake_case, and read both spellings
// (bazel-remote answers in protobuf JSON: camelCase, int64 sizes as strings).
import { err, ok, type Result } from '../../result.js';

export interface Digest {
  hash: string;
  size: number;
}

export interface ActionResult {
  outputFiles: { path: string; digest: Digest }[];
  exitCode: number;
  stdout?: Digest;
}

const HEX64 = /^[0-9a-f]{64}$/;

export function encodeActionResult(result: ActionResult): Buffer {
  const digest = (d: Digest) => ({ hash: d.hash, size_bytes: d.size });
  return Buffer.from(
    JSON.stringify({
      output_files: result.outputFiles.map((f) => ({ path: f.path, digest: digest(f.digest) })),
      exit_code: result.exitCode,
      ...(result.stdout ? { stdout_digest: digest(result.stdout) } : {}),
    }),
  );
}

export function decodeActionResult(body: Buffer): Result<ActionResult, string> {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return err('the action result is not JSON');
  }
  if (!isObject(json)) return err('the action result is not a JSON object');
  const files = pick(json, 'output_files', 'outputFiles') ?? [];
  if (!Array.isArray(files)) return err('output_files is not a list');
  const outputFiles: ActionResult['outputFiles'] = [];
  for (const f of files) {
    if (!isObject(f) || typeof f.path !== 'string') return err('an output file without a path');
    const d = digestOf(f.digest);
    if (!d) return err(`output ${f.path}: no valid digest`);
    outputFiles.push({ path: f.path, digest: d });
  }
  const exit = pick(json, 'exit_code', 'exitCode') ?? 0;
  const stdout = digestOf(pick(json, 'stdout_digest', 'stdoutDigest'));
  return ok({ outputFiles, exitCode: typeof exit === 'number' ? exit : Number(exit), ...(stdout ? { stdout } : {}) });
}

function digestOf(v: unknown): Digest | undefined {
  if (!isObject(v) || typeof v.hash !== 'string' || !HEX64.test(v.hash)) return undefined;
  const raw = pick(v, 'size_bytes', 'sizeBytes') ?? 0; // protobuf JSON leaves out a zero
  const size = typeof raw === 'string' ? Number(raw) : raw;
  return typeof size === 'number' && Number.isSafeInteger(size) && size >= 0 ? { hash: v.hash, size } : undefined;
}

function pick(o: Record<string, unknown>, snake: string, camel: string): unknown {
  return o[snake] ?? o[camel];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
