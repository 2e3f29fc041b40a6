// Targets: preset names and target objects resolved into one shape, with the device/extension
// rules mlc_llm enforces (auto_target.py) checked up front.
import { recipes } from '../recipes/index.js';
import { error, warning, type Diagnostic } from './diagnostic.js';
import type { RawManifest, RawTargetObject } from './schema.js';
import type { ManifestSource, Path } from './source.js';
import { didYouMean } from './suggest.js';
import { checkSafeName } from './names.js';
import type { Target } from './types.js';

/** Devices mlc_llm knows by name (presets, their aliases, and the locally probed kinds). */
const KNOWN_DEVICES = [
  'auto',
  'cuda',
  'rocm',
  'metal',
  'vulkan',
  'opencl',
  'cpu',
  'iphone',
  'macabi',
  'android',
  'webgpu',
  'mali',
  'iphone:generic',
  'macabi:generic',
  'android:generic',
  'android:adreno',
  'android:adreno-so',
  'windows:adreno_x86',
  'metal:x86-64',
  'webgpu:generic',
  'opencl:generic',
  'mali:generic',
  'metal:generic',
  'vulkan:generic',
];

export function presetTarget(name: string, path?: Path): Target | undefined {
  const p = recipes().targetPresets[name];
  if (!p) return undefined;
  return {
    name,
    preset: name,
    device: p.device,
    ext: p.ext,
    stem: p.stem ?? name,
    overrides: {},
    presetConfig: p.config ?? {},
    config: {},
    env: {},
    envReads: p.env,
    buildsOn: p.builds_on,
    runner: p.runner,
    ...(p.ci_host !== undefined ? { ciHost: p.ci_host } : {}),
    path,
  };
}

/** `listed`: names the manifest already lists (never suggested: the user has them). */
export function unknownTarget(name: string, listed: readonly string[] = []): string {
  const presets = Object.keys(recipes().targetPresets);
  return `unknown target ${JSON.stringify(name)}${didYouMean(name, presets, listed)}`;
}

export function resolveTargets(raw: RawManifest, src: ManifestSource, diags: Diagnostic[]): Target[] {
  const targets: Target[] = [];
  const seen = new Map<string, Path>();
  raw.targets.forEach((entry, i) => {
    const path: Path = ['targets', i];
    const listed = raw.targets.filter((t, j): t is string => typeof t === 'string' && j !== i);
    const target = typeof entry === 'string' ? fromPresetName(entry, path, src, diags, listed) : fromObject(entry, path, src, diags);
    if (!target) return;
    const first = seen.get(target.name);
    if (first) {
      const at = src.locate(first);
      diags.push(
        error(
          `target ${JSON.stringify(target.name)} is declared twice (first at line ${at.line})`,
          src.locate(typeof entry === 'string' ? path : [...path, 'name']),
        ),
      );
      return;
    }
    seen.set(target.name, path);
    // The runner: the target's own runs_on, else ci.runs_on by target or preset name, else the preset's.
    const ci = raw.ci?.runs_on ?? {};
    const own = typeof entry === 'string' ? undefined : entry.runs_on;
    target.runner = own ?? ci[target.name] ?? (target.preset !== undefined ? ci[target.preset] : undefined) ?? target.runner;
    targets.push(target);
  });
  return targets;
}

function fromPresetName(name: string, path: Path, src: ManifestSource, diags: Diagnostic[], listed: readonly string[]): Target | undefined {
  const t = presetTarget(name, path);
  if (!t) diags.push(error(unknownTarget(name, listed), src.locate(path)));
  return t;
}

function fromObject(o: RawTargetObject, path: Path, src: ManifestSource, diags: Diagnostic[]): Target | undefined {
  const at = (key: string) => src.locate([...path, key]);
  const before = diags.length;
  checkSafeName(o.name, 'target name', at('name'), diags);
  let base: Target | undefined;
  if (o.preset !== undefined) {
    base = presetTarget(o.preset);
    if (!base)
      diags.push(error(`unknown target preset ${JSON.stringify(o.preset)}${didYouMean(o.preset, Object.keys(recipes().targetPresets))}`, at('preset')));
  }
  const device = o.device ?? base?.device;
  const ext = (o.ext ?? base?.ext)?.replace(/^\./, '');
  const presetMissing = o.preset !== undefined && !base;
  if (device === undefined && !presetMissing) diags.push(error(`target ${JSON.stringify(o.name)} needs a device (or a preset)`, src.locate(path)));
  if (ext === undefined && !presetMissing) diags.push(error(`target ${JSON.stringify(o.name)} needs an ext (or a preset)`, src.locate(path)));
  if (o.stem !== undefined) checkSafeName(o.stem, 'stem', at('stem'), diags);
  if (device !== undefined && !KNOWN_DEVICES.includes(device) && !/^[a-z]+:\d+$/.test(device)) {
    diags.push(
      warning(
        `device ${JSON.stringify(device)} is not one mlc_llm knows by name; it is passed to TVM as a target string${didYouMean(device, KNOWN_DEVICES)}`,
        at('device'),
      ),
    );
  }
  if (device !== undefined && ext !== undefined) {
    const problem = extProblem(device, ext);
    if (problem) diags.push(error(`target ${JSON.stringify(o.name)}: ${problem}`, at(o.ext !== undefined ? 'ext' : 'device')));
  }
  if (o.opt !== undefined) {
    const problem = optProblem(o.opt);
    if (problem) diags.push(error(problem, at('opt')));
  }
  if (o.system_lib_prefix !== undefined && device !== undefined) {
    // Placeholders ({model}, {quant}, {tag}, {target}) give each cell its own prefix (naming.ts).
    const filled = o.system_lib_prefix.replace(/\{-?(model|quant|tag|target)\}/g, 'x');
    if (o.system_lib_prefix !== '' && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(filled)) {
      diags.push(
        error(
          `system_lib_prefix ${JSON.stringify(o.system_lib_prefix)} must be a C identifier prefix (letters, digits, "_"; not starting with a digit; placeholders {model}, {quant}, {tag}, {target})`,
          at('system_lib_prefix'),
        ),
      );
    } else if (!recipes().systemLibPrefixDevices.includes(device)) {
      diags.push(
        warning(
          `mlc_llm ignores system_lib_prefix for device ${JSON.stringify(device)} (it applies only to ${recipes().systemLibPrefixDevices.join(', ')})`,
          at('system_lib_prefix'),
        ),
      );
    }
  }
  for (const key of Object.keys(o.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key))
      diags.push(error(`env ${JSON.stringify(key)} is not a valid environment variable name`, src.locate([...path, 'env', key], { key: true })));
  }
  if (diags.slice(before).some((d) => d.severity === 'error') || device === undefined || ext === undefined) return undefined;
  return {
    name: o.name,
    preset: o.preset,
    device,
    host: o.host ?? base?.host,
    ext,
    stem: o.stem ?? (o.preset !== undefined && base && base.stem !== base.name ? base.stem : o.name),
    opt: o.opt,
    systemLibPrefix: o.system_lib_prefix,
    overrides: o.overrides ?? {},
    presetConfig: base?.presetConfig ?? {},
    config: o.config ?? {},
    env: o.env ?? {},
    envReads: base?.envReads ?? [],
    buildsOn: base?.buildsOn ?? { needs: [] },
    runner: base?.runner ?? 'ubuntu-latest',
    ...(base?.ciHost !== undefined && o.device === undefined && o.host === undefined ? { ciHost: base.ciHost } : {}),
    ...(o.resources ? { resources: o.resources } : {}),
    path,
  };
}

/** Why mlc_llm would refuse (or misbuild) this device/extension pair, if it would. */
export function extProblem(device: string, ext: string): string | undefined {
  const { required, default_builder } = recipes().deviceExt;
  const need = required[device];
  if (need) {
    return need.includes(ext) ? undefined : `device ${JSON.stringify(device)} needs a .${need.join(' or .')} library, not .${ext}`;
  }
  if (!default_builder.includes(ext)) {
    return `.${ext} is not a library mlc_llm builds for device ${JSON.stringify(device)} (use .${default_builder.join(', .')})`;
  }
  return undefined;
}

function optProblem(opt: string): string | undefined {
  const { presets, knobs } = recipes().opt;
  if (presets.includes(opt)) return undefined;
  if (/^O\d$/.test(opt)) return `opt ${JSON.stringify(opt)} is not one of ${presets.join(', ')}`;
  for (const part of opt.split(';').filter((p) => p.trim() !== '')) {
    const [k, v, ...rest] = part.split('=').map((s) => s.trim());
    const allowed = k === undefined ? undefined : knobs[k];
    if (!allowed || rest.length > 0) {
      return `opt ${JSON.stringify(opt)}: unknown knob ${JSON.stringify(k ?? part)}${didYouMean(k ?? part, Object.keys(knobs))} (use ${presets.join('/')} or knobs ${Object.keys(knobs).join(', ')})`;
    }
    if (v === undefined || !allowed.includes(v)) return `opt ${JSON.stringify(opt)}: ${k} must be ${allowed.join(' or ')}`;
  }
  return undefined;
}
