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
  // Markdown: a blank line before every table and every list, so that neither joins a paragraph.
  const lines = report(results).split('\n');
  const out = lines.flatMap((line, i) => {
    const starts = (l: string | undefined, c: string) => l !== undefined && l.startsWith(c);
    const opens =
      (starts(line, '|') && !starts(lines[i - 1], '|')) || (starts(line, '- ') && !starts(lines[i - 1], '- '));
    return opens && lines[i - 1] !== '' ? ['', line] : [line];
  });
  console.log(out.join('\n'));
}

main();
