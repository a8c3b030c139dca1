import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { qualityReport, type QualityResults, type TorchReference } from './quality';
import { table } from './stats';

/**
 * Prints a saved quality run (`bench/results/<time>.json`) against the committed PyTorch
 * reference, bench/quality/torch-reference.json, as it is now: the bench reads the reference
 * once when it starts, so a run that overlapped a regeneration of the reference printed its
 * table against the old one. The fitwell figures are the run's own; nothing is re-run.
 *
 *   npm run build && node dist/bench/quality-report.js bench/results/<time>.json
 */
function main(): void {
  const file = process.argv[2];
  if (!file) throw new Error('usage: quality-report.js <bench/results/<time>.json>');
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { quality?: QualityResults };
  if (!saved.quality) throw new Error(`${file} holds no quality run`);
  const reference = join(__dirname, '..', '..', 'bench', 'quality', 'torch-reference.json');
  const torch = JSON.parse(readFileSync(reference, 'utf8')) as TorchReference;
  console.log(`fitwell figures from ${file}; PyTorch figures from ${reference}`);
  console.log(qualityReport({ ...saved.quality, torch }, table));
}

main();
