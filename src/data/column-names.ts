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
