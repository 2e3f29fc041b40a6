import { describe, expect, it } from 'vitest';
import { cellKey, expandMatrix } from '../../src/manifest/matrix.js';

const dims = { model: ['A', 'B'], quant: ['q4f16_1', 'q0f16'], target: ['cuda', 'webgpu'] };
const keys = (cells: ReturnType<typeof expandMatrix>) => cells.map(cellKey);

describe('matrix expansion', () => {
  it('is the cartesian product in declaration order', () => {
    expect(keys(expandMatrix(dims, [], []))).toEqual([
      'A/q4f16_1/cuda',
      'A/q4f16_1/webgpu',
      'A/q0f16/cuda',
      'A/q0f16/webgpu',
      'B/q4f16_1/cuda',
      'B/q4f16_1/webgpu',
      'B/q0f16/cuda',
      'B/q0f16/webgpu',
    ]);
  });

  it('exclude matches partially: naming one dimension removes every cell with that value', () => {
    expect(keys(expandMatrix(dims, [{ target: ['webgpu'] }], []))).toEqual(['A/q4f16_1/cuda', 'A/q0f16/cuda', 'B/q4f16_1/cuda', 'B/q0f16/cuda']);
  });

  it('exclude with several dimensions removes only cells matching all of them', () => {
    const cells = keys(expandMatrix(dims, [{ model: ['A'], target: ['webgpu'] }], []));
    expect(cells).not.toContain('A/q4f16_1/webgpu');
    expect(cells).not.toContain('A/q0f16/webgpu');
    expect(cells).toContain('B/q4f16_1/webgpu');
    expect(cells).toHaveLength(6);
  });

  it('a list value in exclude matches any of its values', () => {
    expect(keys(expandMatrix(dims, [{ model: ['A', 'B'], quant: ['q0f16'] }], []))).toEqual([
      'A/q4f16_1/cuda',
      'A/q4f16_1/webgpu',
      'B/q4f16_1/cuda',
      'B/q4f16_1/webgpu',
    ]);
  });

  it('include merges into every cell it matches and adds none', () => {
    const cells = expandMatrix(dims, [], [{ model: ['B'], target: ['webgpu'] }]);
    expect(cells).toHaveLength(8);
    expect(cells.filter((c) => c.includes.includes(0)).map(cellKey)).toEqual(['B/q4f16_1/webgpu', 'B/q0f16/webgpu']);
  });

  it('include with a list value matches any of its values', () => {
    const cells = expandMatrix(dims, [], [{ model: ['A'], target: ['cuda', 'webgpu'], quant: ['q0f16'] }]);
    expect(cells.filter((c) => c.includes.length > 0).map(cellKey)).toEqual(['A/q0f16/cuda', 'A/q0f16/webgpu']);
  });

  it('an include that matches no cell adds cells, expanding the dimensions it does not name', () => {
    const cells = expandMatrix(dims, [], [{ model: ['A'], quant: ['q3f16_1'] }]);
    expect(keys(cells).slice(8)).toEqual(['A/q3f16_1/cuda', 'A/q3f16_1/webgpu']);
    expect(cells.slice(8).every((c) => c.includes.join() === '0')).toBe(true);
  });

  it('includes run after excludes, so an include can bring an excluded cell back', () => {
    const cells = expandMatrix(dims, [{ target: ['webgpu'] }], [{ model: ['A'], quant: ['q4f16_1'], target: ['webgpu'] }]);
    expect(keys(cells)).toContain('A/q4f16_1/webgpu');
    expect(keys(cells)).not.toContain('B/q4f16_1/webgpu');
    expect(cells).toHaveLength(5);
  });

  it('includes apply in file order: a later include merges into a cell an earlier one added', () => {
    const cells = expandMatrix(dims, [], [{ model: ['A'], target: ['iphone'] }, { target: ['iphone'] }]);
    const added = cells.filter((c) => c.target === 'iphone');
    expect(added.map(cellKey)).toEqual(['A/q4f16_1/iphone', 'A/q0f16/iphone']);
    expect(added.every((c) => c.includes.join() === '0,1')).toBe(true);
  });

  it('excluding everything leaves an empty matrix', () => {
    expect(expandMatrix(dims, [{ model: ['A', 'B'] }], [])).toEqual([]);
  });
});
