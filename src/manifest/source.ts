// The manifest's text parsed as YAML with positions, so every later check can point at a line.
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { error, type Diagnostic, type Location } from './diagnostic.js';
import { err, ok, type Result } from '../result.js';

export type Path = readonly (string | number)[];

export class ManifestSource {
  private constructor(
    readonly file: string,
    readonly text: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
    /** Where the manifest sits inside the document: [] for mlc.build.yaml, ['mlcBuild'] for package.json. */
    private readonly base: Path,
  ) {}

  static parse(file: string, text: string, base: Path = []): Result<ManifestSource, Diagnostic[]> {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
    const src = new ManifestSource(file, text, doc, lines, base);
    if (doc.errors.length > 0) {
      return err(doc.errors.map((e) => error(src.describeYamlError(e.code, e.message, e.pos[0]), src.at(e.pos[0], e.pos[1]))));
    }
    return ok(src);
  }

  /** The manifest as plain data. */
  value(): unknown {
    let v: unknown = this.doc.toJS({ maxAliasCount: 1000 });
    for (const seg of this.base) v = (v as Record<string | number, unknown> | undefined)?.[seg];
    return v;
  }

  /**
   * The location of the value at `path` (or of its key, with `key: true`). A path that does not
   * exist (a missing key) points at the nearest enclosing node that does.
   */
  locate(path: Path, opts: { key?: boolean } = {}): Location {
    let node: unknown = this.doc.contents;
    let found: Node | undefined = isNode(node) ? node : undefined;
    const full = [...this.base, ...path];
    for (let i = 0; i < full.length; i++) {
      const seg = full[i];
      const last = i === full.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
        if (!pair) break;
        if (last && opts.key && isNode(pair.key)) {
          found = pair.key;
          break;
        }
        const next = pair.value;
        if (isNode(next) && next.range) {
          node = next;
          found = next;
        } else {
          // `key:` with no value: point at the key.
          if (isNode(pair.key)) found = pair.key;
          break;
        }
      } else if (isSeq(node) && typeof seg === 'number' && isNode(node.items[seg])) {
        node = node.items[seg];
        found = node as Node;
      } else {
        break;
      }
    }
    const range = found?.range ?? [0, 0, 0];
    return this.at(range[0], range[1]);
  }

  private at(start: number, end: number): Location {
    const { line, col } = this.lines.linePos(start);
    const lineStart = this.lines.lineStarts[line - 1] ?? 0;
    const nl = this.text.indexOf('\n', lineStart);
    const sourceLine = this.text.slice(lineStart, nl === -1 ? undefined : nl).replace(/\r$/, '');
    const length = Math.max(1, Math.min(end, lineStart + sourceLine.length) - start);
    return { file: this.file, line, col, length, sourceLine };
  }

  private describeYamlError(code: string, message: string, pos: number): string {
    if (code === 'DUPLICATE_KEY') {
      const key = /^\s*("[^"]*"|'[^']*'|[^:\s]+)/.exec(this.text.slice(pos))?.[1] ?? '';
      return `duplicate key ${JSON.stringify(key.replace(/^["']|["']$/g, ''))}`;
    }
    return `YAML syntax error: ${message.replace(/\s+at line \d+, column \d+[\s\S]*$/, '')}`;
  }
}

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && 'range' in v;
}
