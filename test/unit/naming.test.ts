import { describe, expect, it } from 'vitest';
import { renderName, sizeToken, variantTag } from '../../src/graph/naming.js';

describe('variant tags', () => {
  it('writes sizes web-llm style', () => {
    expect([4096, 2048, 1024, 512, 768, 128, 3072].map(sizeToken)).toEqual(['4k', '2k', '1k', '512', '768', '128', '3k']);
  });

  it('lists the options that differ from base in the order ctx, sw, cs, sink, tp, pp, batch', () => {
    expect(variantTag({ context_window_size: 768 }, {})).toBe('ctx768');
    expect(variantTag({ prefill_chunk_size: 128, sliding_window_size: 1024 }, {})).toBe('sw1k_cs128');
    expect(
      variantTag(
        {
          max_batch_size: 32,
          pipeline_parallel_stages: 2,
          tensor_parallel_shards: 4,
          attention_sink_size: 4,
          prefill_chunk_size: 512,
          sliding_window_size: 4096,
          context_window_size: 8192,
        },
        {},
      ),
    ).toBe('ctx8k_sw4k_cs512_sink4_tp4_pp2_batch32');
  });

  it('ignores options equal to base and marks removed ones with "no"', () => {
    expect(variantTag({ context_window_size: 4096, prefill_chunk_size: 128 }, { context_window_size: 4096 })).toBe('cs128');
    expect(variantTag({ sliding_window_size: 1024 }, { context_window_size: 4096 })).toBe('noctx_sw1k');
    expect(variantTag({ context_window_size: 4096 }, { context_window_size: 4096 })).toBe('');
  });

  it('tags a boolean option by name', () => {
    expect(variantTag({ disaggregation: true }, {})).toBe('disagg');
    expect(variantTag({}, { disaggregation: true })).toBe('nodisagg');
  });
});

describe('naming templates', () => {
  it('fills placeholders; {-tag} is empty for the base variant', () => {
    expect(renderName('{model}-{quant}{-tag}-MLC', { model: 'M', quant: 'q4f16_1', tag: '' })).toBe('M-q4f16_1-MLC');
    expect(renderName('{model}-{quant}{-tag}-MLC', { model: 'M', quant: 'q4f16_1', tag: 'ctx768' })).toBe('M-q4f16_1-ctx768-MLC');
    expect(renderName('{model}-{quant}-{stem}.{ext}', { model: 'M', quant: 'q4f16_1', tag: '', stem: 'metal_x86_64', ext: 'dylib' })).toBe(
      'M-q4f16_1-metal_x86_64.dylib',
    );
  });
});
