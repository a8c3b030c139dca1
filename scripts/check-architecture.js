#!/usr/bin/env node
// The layer rule of docs/architecture.md, checked on the import graph of src/, routes/ and jobs/:
// a file may import from its own layer or the layers below it, never above, and no import may
// close a circle. Prints every violation and exits 1 when there is one. No dependencies: imports
// are read with a regular expression (static `import … from`, `export … from`, `import('…')`
// and `require('…')` of relative paths); type-only imports count too, since they tie the
// shapes of two layers together just the same. `--root DIR` checks another tree (the script's own
// test runs it on a small one made for the purpose); the default is this repository.
'use strict';
const { readdirSync, readFileSync, statSync, existsSync } = require('node:fs');
const { join, relative, dirname, resolve } = require('node:path');

const rootFlag = process.argv.indexOf('--root');
const root = rootFlag >= 0 ? resolve(process.argv[rootFlag + 1]) : resolve(__dirname, '..');

/**
 * From the bottom. A file's layer is the first entry whose prefix matches its path (relative to
 * the repository, without extension). Keep in step with docs/architecture.md.
 */
const LAYERS = [
  { name: 'foundation', paths: ['src/config', 'src/errors', 'src/schemas/', 'src/random'] },
  { name: 'data-ml', paths: ['src/data/', 'src/ml/', 'src/evaluation/'] },
  { name: 'domain', paths: ['src/training/', 'src/store/', 'src/training-jobs/', 'src/local-redis'] },
  { name: 'services', paths: ['src/serving/', 'src/search/', 'src/sweeps/', 'src/report/', 'src/export/'] },
  { name: 'http', paths: ['src/http/', 'src/observability/'] },
  { name: 'entry-points', paths: ['routes/', 'jobs/'] },
  { name: 'app', paths: ['src/app', 'src/plugins/'] },
  { name: 'main', paths: ['src/main'] },
];

/**
 * Files in src/ that may import from routes/ or jobs/: none but the composition roots above them
 * (the app, the app's plugins, which make the queues with jobs/' factories, and main).
 */
const COMPOSITION_ROOTS = ['src/app', 'src/plugins/', 'src/main'];
const isCompositionRoot = (id) => COMPOSITION_ROOTS.some((p) => id === p || id.startsWith(p));

/**
 * Imports refused whatever the layers: a file under `from` imports nothing under any of `to`.
 * ml/ has its own spec types (src/ml/spec.ts) and is not typed by the wire schema, although
 * src/schemas/ is a lower layer: src/training/ maps the request onto ml/'s types (and
 * src/training/ml-types.ts checks at compile time that they agree). The upper layers are listed
 * too, so that the rule reads whole here and in docs/architecture.md.
 */
const FORBIDDEN = [
  {
    from: 'src/ml/',
    to: ['src/schemas/', 'src/training/', 'src/http/', 'routes/', 'jobs/'],
    why: 'ml/ is typed by its own spec (src/ml/spec.ts), mapped from the request in src/training/',
  },
];
const under = (id, prefix) => id === prefix || id.startsWith(prefix);

function walk(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return walk(path);
    return /\.ts$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

function moduleId(file) {
  return relative(root, file).replace(/\.ts$/, '').split('\\').join('/');
}

function layerOf(id) {
  const index = LAYERS.findIndex((layer) => layer.paths.some((p) => id === p || id.startsWith(p)));
  return index;
}

const IMPORT =
  /(?:import|export)\s[^'";]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g;

function importsOf(file) {
  const source = readFileSync(file, 'utf8');
  const out = [];
  for (const match of source.matchAll(IMPORT)) {
    const spec = match[1] ?? match[2] ?? match[3];
    if (!spec.startsWith('.')) continue;
    const base = resolve(dirname(file), spec);
    const target = [`${base}.ts`, join(base, 'index.ts')].find((p) => existsSync(p));
    if (target) out.push(target);
  }
  return out;
}

const files = ['src', 'routes', 'jobs'].flatMap((dir) => walk(join(root, dir)));
const graph = new Map(files.map((file) => [moduleId(file), importsOf(file).map(moduleId)]));
const problems = [];

for (const [from, targets] of graph) {
  const fromLayer = layerOf(from);
  if (fromLayer < 0) problems.push(`${from}: in no layer of docs/architecture.md`);
  for (const to of targets) {
    const toLayer = layerOf(to);
    if (fromLayer < 0 || toLayer < 0) continue;
    if (toLayer > fromLayer) {
      problems.push(`${from} (${LAYERS[fromLayer].name}) imports ${to} (${LAYERS[toLayer].name}), a higher layer`);
    }
    if (from.startsWith('src/') && /^(routes|jobs)\//.test(to) && !isCompositionRoot(from)) {
      problems.push(`${from} imports ${to}: nothing in src/ below the composition roots imports routes/ or jobs/`);
    }
    for (const rule of FORBIDDEN) {
      if (under(from, rule.from) && rule.to.some((prefix) => under(to, prefix))) {
        problems.push(`${from} imports ${to}: ${rule.why}`);
      }
    }
  }
}

// Circles: depth-first search, reporting each back edge's cycle once.
const state = new Map();
const stack = [];
const seen = new Set();
function visit(id) {
  state.set(id, 'open');
  stack.push(id);
  for (const next of graph.get(id) ?? []) {
    if (!graph.has(next)) continue;
    if (state.get(next) === 'open') {
      const cycle = stack.slice(stack.indexOf(next)).concat(next);
      const key = [...cycle.slice(0, -1)].sort().join(' ');
      if (!seen.has(key)) {
        seen.add(key);
        problems.push(`import circle: ${cycle.join(' → ')}`);
      }
    } else if (!state.has(next)) visit(next);
  }
  stack.pop();
  state.set(id, 'done');
}
for (const id of graph.keys()) if (!state.has(id)) visit(id);

const edges = [...graph.values()].reduce((n, t) => n + t.length, 0);
if (problems.length > 0) {
  for (const p of problems) console.error(`architecture: ${p}`);
  console.error(`architecture: ${problems.length} problem(s) in ${graph.size} files, ${edges} imports`);
  process.exit(1);
}
console.log(`architecture: ${graph.size} files, ${edges} imports, layer rule holds, no circles`);
