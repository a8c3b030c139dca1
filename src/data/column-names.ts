import { invalid } from '../errors';

/**
 * Rules for column names, shared by every dataset format. Names become keys in requests
 * (`drop`, `target`, prediction rows) and in responses, so they must be non-blank, unique and
 * unable to reach an object's prototype.
 */

/**
 * `__proto__` is the one key whose assignment on an ordinary object changes the object's
 * prototype. Tables store names safely, but other code (responses, reports) may not, so the
 * name is refused at the door rather than relied on to be handled everywhere.
 */
const FORBIDDEN_NAMES = new Set(['__proto__']);

/** Throws a 400 if `name` is blank or forbidden; `where` says where it came from, e.g. "header column 3". */
export function checkColumnName(name: string, where: string): void {
  if (name.trim() === '') {
    throw invalid('INVALID_DATASET', `${where} has an empty column name; every column needs a name`);
  }
  if (FORBIDDEN_NAMES.has(name)) {
    throw invalid('INVALID_DATASET', `${where} is named "${name}", which is reserved; rename the column`);
  }
}

/** Throws a 400 naming the first repeated name and both 1-based positions. */
export function checkNoDuplicateNames(names: readonly string[]): void {
  const firstSeen = new Map<string, number>();
  names.forEach((name, index) => {
    const earlier = firstSeen.get(name);
    if (earlier !== undefined) {
      throw invalid(
        'INVALID_DATASET',
        `column name "${name}" appears twice (columns ${earlier + 1} and ${index + 1}); names must be unique`,
      );
    }
    firstSeen.set(name, index);
  });
}

/** `"a", "b", "c"` for messages, cut after `max` names so a wide dataset cannot flood a response. */
export function quoteNames(names: readonly string[], max = 20): string {
  const shown = names.slice(0, max).map((name) => JSON.stringify(name));
  if (names.length > max) shown.push(`… (${names.length - max} more)`);
  return shown.join(', ');
}

/**
 * The candidate closest to `name` by edit distance (case-insensitive), if it is close enough to
 * be a misspelling: at most a third of the name's characters (and at least one) apart.
 */
export function nearestName(name: string, candidates: readonly string[]): string | undefined {
  const limit = Math.max(1, Math.floor(name.length / 3));
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance <= limit && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

/** Levenshtein distance, one row of the table at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}
