// README.md of a weights folder: Hugging Face front matter (so the hub lists it under mlc-llm and
// links the base model) and the facts of its build.
import type { SourceSpec } from '../manifest/source-spec.js';
import type { LibraryEntry, WeightsEntry } from './collect.js';
import type { LibraryFigures } from './figures.js';
import type { ToolchainFacts } from './inventory.js';

/** "org/name" of a hub source: hf://org/name, or a huggingface.co git URL; undefined for local folders. */
export function baseModel(source: SourceSpec): string | undefined {
  switch (source.kind) {
    case 'hf':
      return source.repo;
    case 'git': {
      const m = /^https?:\/\/(?:www\.)?huggingface\.co\/([A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*?)(?:\.git)?\/?$/.exec(source.url);
      return m ? m[1] : undefined;
    }
    // Stryker disable next-line ConditionalExpression: a local folder has no hub model; the end of the switch returns the same
    case 'local':
      return undefined;
  }
}

export function modelCard(
  w: WeightsEntry,
  source: SourceSpec,
  /** The source as the user reads it (a local folder relative to the project). */
  sourceText: string,
  commit: string | undefined,
  toolchain: ToolchainFacts,
  libs: readonly LibraryEntry[],
  figures: ReadonlyMap<LibraryEntry, LibraryFigures>,
): string {
  const base = baseModel(source);
  const front = ['---', 'library_name: mlc-llm', ...(base ? [`base_model: ${base}`] : []), 'tags:', '- mlc-llm', '- web-llm', '---', ''];
  const from = base ? `[${base}](https://huggingface.co/${base})` : `\`${w.model}\``;
  const versions = Object.entries(toolchain.packages).map(([n, v]) => `${n} ${v}`);
  const rows = [
    ['Quantization', `\`${w.quant}\``],
    ['Variant', w.variant === 'base' ? 'base' : `\`${w.variant}\``],
    ['Source', `\`${sourceText}\`${commit ? ` at \`${commit}\`` : ''}`],
    ['Toolchain', `${versions.length > 0 ? `${versions.join(', ')}; ` : ''}fingerprint \`${toolchain.fingerprint.slice(0, 16)}\``],
  ];
  const libLines = libs.map((l) => {
    const f = figures.get(l);
    return `- \`${l.file.path}\` (${l.target.name}, device \`${l.target.device}\`${f ? `, about ${Math.ceil(f.memory.vram_required_mb)} MB of GPU memory` : ''})`;
  });
  return [
    ...front,
    `# ${w.folder}`,
    '',
    `${from} converted to MLC format with quantization \`${w.quant}\`, built with mlc-build.`,
    '',
    '| | |',
    '|---|---|',
    ...rows.map(([k, v]) => `| ${k} | ${v} |`),
    '',
    '## Libraries built for these weights',
    '',
    ...(libLines.length > 0 ? libLines : ['None in this release.']),
    '',
  ].join('\n');
}
