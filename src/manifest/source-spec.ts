// Where a model's files come from: `hf://org/name[@rev]`, `git+URL[#rev]`, or a local folder.
import { isAbsolute, resolve } from 'node:path';

export type SourceSpec =
  | { kind: 'hf'; text: string; repo: string; revision: string; pinnedByUser: boolean }
  | { kind: 'git'; text: string; url: string; rev: string | undefined }
  | { kind: 'local'; text: string; path: string };

const HF_REPO = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;

/** Parses a source string; `root` resolves relative local paths. Returns an error message on bad input. */
export function parseSource(text: string, root: string): SourceSpec | string {
  if (text.startsWith('hf://')) {
    const rest = text.slice('hf://'.length);
    const at = rest.indexOf('@');
    const repo = at === -1 ? rest : rest.slice(0, at);
    const revision = at === -1 ? 'main' : rest.slice(at + 1);
    if (!HF_REPO.test(repo) || repo.includes('..')) {
      return `source ${JSON.stringify(text)} is not a Hugging Face repository (expected hf://org/name[@revision])`;
    }
    if (at !== -1 && revision === '') return `source ${JSON.stringify(text)} has an empty revision after "@"`;
    return { kind: 'hf', text, repo, revision, pinnedByUser: at !== -1 };
  }
  if (text.startsWith('git+')) {
    const rest = text.slice('git+'.length);
    const hash = rest.indexOf('#');
    const url = hash === -1 ? rest : rest.slice(0, hash);
    const rev = hash === -1 ? undefined : rest.slice(hash + 1);
    if (!/^(https?|ssh|file|git):\/\/./.test(url)) {
      return `source ${JSON.stringify(text)} is not a git URL (expected git+https://…, git+ssh://… or git+file://…, optionally #rev)`;
    }
    if (rev === '') return `source ${JSON.stringify(text)} has an empty revision after "#"`;
    return { kind: 'git', text, url, rev };
  }
  if (/^hf:\/?(?!\/)/.test(text)) {
    return `source ${JSON.stringify(text)} is not a Hugging Face repository: write hf://${text.replace(/^hf:\/?/, '')} (two slashes)`;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    return `source ${JSON.stringify(text)} has an unknown scheme (use hf://org/name, git+URL or a local folder)`;
  }
  return { kind: 'local', text, path: isAbsolute(text) ? text : resolve(root, text) };
}
