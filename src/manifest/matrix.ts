// Matrix expansion with GitHub Actions semantics: cartesian product, then `exclude` (partial match),
// then each `include` in order merges into every cell it matches or, matching none, adds cells.
// Extensions: a list value matches any of its values; an include that adds cells expands the
// dimensions it does not name over their declared values.

export const DIMENSIONS = ['model', 'quant', 'target'] as const;
export type Dimension = (typeof DIMENSIONS)[number];

export type Rule = { [D in Dimension]?: readonly string[] };

export interface MatrixCell {
  model: string;
  quant: string;
  target: string;
  /** Indices of includes that matched or added this cell, in order. */
  includes: number[];
}

export const cellKey = (c: { model: string; quant: string; target: string }): string => `${c.model}/${c.quant}/${c.target}`;

function matches(rule: Rule, cell: MatrixCell): boolean {
  return DIMENSIONS.every((d) => rule[d] === undefined || rule[d].includes(cell[d]));
}

export function expandMatrix(dims: { [D in Dimension]: readonly string[] }, exclude: readonly Rule[], include: readonly Rule[]): MatrixCell[] {
  const cells: MatrixCell[] = [];
  for (const model of dims.model) {
    for (const quant of dims.quant) {
      for (const target of dims.target) {
        const cell = { model, quant, target, includes: [] };
        if (!exclude.some((rule) => matches(rule, cell))) cells.push(cell);
      }
    }
  }
  const index = new Map(cells.map((c) => [cellKey(c), c]));
  include.forEach((rule, i) => {
    let matched = false;
    for (const cell of cells) {
      if (matches(rule, cell)) {
        cell.includes.push(i);
        matched = true;
      }
    }
    if (matched) return;
    for (const model of rule.model ?? dims.model) {
      for (const quant of rule.quant ?? dims.quant) {
        for (const target of rule.target ?? dims.target) {
          const key = cellKey({ model, quant, target });
          if (index.has(key)) continue;
          const cell = { model, quant, target, includes: [i] };
          cells.push(cell);
          index.set(key, cell);
        }
      }
    }
  });
  return cells;
}
