import { describe, expect, it } from 'vitest';
import { layer } from '../../src/manifest/layers.js';
import { manifestOf } from '../helpers/manifest.js';

describe('settings layers', () => {
  it('later layers win', () => {
    expect(layer({ context_window_size: 768 }, { context_window_size: 4096, prefill_chunk_size: 512 }, { prefill_chunk_size: 128 })).toEqual({
      context_window_size: 4096,
      prefill_chunk_size: 128,
    });
  });

  it('null removes a value set by a lower layer', () => {
    expect(layer({ context_window_size: 768 }, { context_window_size: null, sliding_window_size: 1024 })).toEqual({ sliding_window_size: 1024 });
  });

  it('disaggregation false is the same as unset (gen_config treats any value as True)', () => {
    expect(layer({ disaggregation: true }, { disaggregation: false })).toEqual({});
  });

  it('applies preset < top-level < model < target entry < includes in file order', () => {
    const m = manifestOf(`
version: 1
models:
  A: { source: hf://org/a, conv_template: LM, config: { prefill_chunk_size: 256, max_batch_size: 8 } }
quantizations: [q4f16_1]
config: { context_window_size: 4096, prefill_chunk_size: 1024, attention_sink_size: 4 }
targets:
  - iphone
  - { name: phone-1k, preset: iphone, config: { context_window_size: 1024 } }
  - cuda
matrix:
  include:
    - { target: [iphone, phone-1k], config: { max_batch_size: 4, attention_sink_size: null } }
    - { target: phone-1k, config: { max_batch_size: 2 } }
`);
    const opts = Object.fromEntries(m.cells.map((c) => [c.target, c.options]));
    // top-level context_window_size (4096) overrides the iphone preset's 768
    expect(opts.iphone).toEqual({ context_window_size: 4096, prefill_chunk_size: 256, max_batch_size: 4 });
    expect(opts['phone-1k']).toEqual({ context_window_size: 1024, prefill_chunk_size: 256, max_batch_size: 2 });
    expect(opts.cuda).toEqual({ context_window_size: 4096, prefill_chunk_size: 256, attention_sink_size: 4, max_batch_size: 8 });
  });
});
