// src/sources/ owns where model files come from: local folders, hf:// and git+ sources behind one
// Source interface, file selection rules, and the pins they add to the lock file.
//
// One source per model for a build: the implementations behind the Source interface.
import { canonicalJson } from '../canonical-json.js';
import type { Model } from '../manifest/types.js';
import { GitSource } from './git.js';
import { HubSource } from './hf.js';
import { LocalSource } from './local.js';
import type { Source, SourceDeps } from './source.js';

export type { Source } from './source.js';

/** Opens (once per source string and file rules) the source each model reads. */
export function sourceOpener(deps: Omit<SourceDeps, 'rules'>): (model: Model) => Source {
  const opened = new Map<string, Source>();
  const queues = new Map<string, Promise<unknown>>();
  const serially = <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    const next = (queues.get(key) ?? Promise.resolve()).then(fn, fn);
    queues.set(
      key,
      next.catch(() => undefined),
    );
    return next;
  };
  return (model) => {
    const id = `${model.source.text}\0${canonicalJson(model.download)}`;
    let source = opened.get(id);
    if (!source) {
      const d: SourceDeps = { ...deps, rules: model.download };
      const s = model.source;
      switch (s.kind) {
        case 'local':
          source = new LocalSource(s.text, s.path, d);
          break;
        case 'hf':
          source = new HubSource(s.text, s.repo, s.revision, d);
          break;
        case 'git':
          source = new GitSource(s.text, s.url, s.rev, d, serially);
          break;
      }
      opened.set(id, source);
    }
    return source;
  };
}
