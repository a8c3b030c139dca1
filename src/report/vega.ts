import type { TopLevelSpec } from 'vega-lite' with { 'resolution-mode': 'import' };

/**
 * Vega-Lite → Vega → SVG on the server, with Vega's headless renderer (no browser, no canvas).
 * vega and vega-lite are ESM-only and this project compiles to CommonJS: a dynamic import() is
 * kept as is by TypeScript under module node16, and Node loads the ESM builds once, on first
 * use, so the API starts no slower for them.
 */
// typescript-eslint's program does not resolve these `resolution-mode: import` types (tsc does),
// so it sees them as errors; the charts' `anchor` fields are then taken for String#anchor.
/* eslint-disable @typescript-eslint/no-unsafe-assignment */
type VegaModules = [
  typeof import('vega', { with: { 'resolution-mode': 'import' } }),
  typeof import('vega-lite', { with: { 'resolution-mode': 'import' } }),
];
/* eslint-enable @typescript-eslint/no-unsafe-assignment */
let modules: Promise<VegaModules> | undefined;

function load(): Promise<VegaModules> {
  modules ??= Promise.all([import('vega'), import('vega-lite')]);
  return modules;
}

export type ChartSpec = TopLevelSpec;

export async function renderSvg(spec: ChartSpec): Promise<string> {
  const [vega, vegaLite] = await load();
  const compiled = vegaLite.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
