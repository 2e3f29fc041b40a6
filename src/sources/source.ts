// Where a model's files come from: a local folder, the Hugging Face hub (hf://) or a git
// repository (git+). One interface for all three: find the files of a part on this machine at the
// pinned revision (no network), fetch them, and say where they live.
import type { KeyFields } from '../keys.js';
import type { Result } from '../result.js';
import type { Files } from '../store/store.js';
import type { FileRules } from './files.js';
import type { Lock } from '../lockfile/lock-file.js';

export type Part = 'meta' | 'weights';

/** What a part resolved to, for mlc.build.lock: file digests and, for hub and git, the commit. */
export interface Pin {
  part: Part;
  /** File name → sha256 (hex). */
  files: Record<string, string>;
  commit?: string;
  revision?: string;
}

/** The files of a part, their key (content, never paths) and what to pin. */
export interface SourceFiles {
  files: Files;
  key: string;
  fields: KeyFields;
  pin: Pin;
}

export type Located =
  | { kind: 'here'; found: SourceFiles }
  /** Not on this machine at the pinned revision (or not pinned yet): fetch it. */
  | { kind: 'fetch'; reason: string }
  | { kind: 'unavailable'; reason: string };

export interface FetchOptions {
  signal: AbortSignal;
  /** Bytes so far of this part, and the part's total. */
  onProgress: (bytes: number, total: number) => void;
}

export interface Source {
  /** The source string of the manifest (the lock's key). */
  readonly text: string;
  /** A fetched snapshot also appears in out/models/<model>/ (the seed's layout); local folders stay put. */
  readonly mirrored: boolean;
  /** The files of a part if they are here at the pinned revision. Reads no network. */
  locate(part: Part): Promise<Located>;
  fetch(part: Part, opts: FetchOptions): Promise<Result<SourceFiles, string>>;
  /** The folder the files are read from on this machine, when it is known without the network. */
  folder(): string | undefined;
}

/** What every source implementation is given. */
export interface SourceDeps {
  storeRoot: string;
  env: NodeJS.ProcessEnv;
  /** mlc.build.lock as it was when the build started. */
  lock: Lock;
  /** Re-resolve revisions instead of using the pinned commits. */
  update: boolean;
  tokenFile?: string;
  /** A file's digest (through the stat cache; re-hashed under --verify). */
  digest(path: string): Promise<{ digest: string; size: number }>;
  /** A folder whose listing decided something. */
  observe(dir: string): void;
  rules: FileRules;
}

export function digestsOf(files: Files): Record<string, string> {
  return Object.fromEntries(Object.entries(files).map(([n, f]) => [n, f.digest]));
}
