import { readFileSync } from 'node:fs';
import { goals, report, type Results } from './run';

/**
 * `node dist/bench/readme.js bench/results/<file>.json`: prints the report of a finished run
 * again (the goals recomputed from its figures), for the README's Performance section, which
 * quotes one run and nothing else.
 */
function main(): void {
  const file = process.argv[2];
  if (!file) throw new Error('usage: node dist/bench/readme.js bench/results/<file>.json');
  const results = JSON.parse(readFileSync(file, 'utf8')) as Results;
  results.goals = goals(results);
  console.log(report(results));
}

main();
