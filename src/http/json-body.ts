import type { FastifyInstance } from 'fastify';
import { invalid } from '../errors';

/**
 * The JSON body parser, in place of Fastify's own, for its messages: Fastify answers every bad
 * body with "Body is not valid JSON", where this one says what is wrong and where ("Unexpected
 * token N…", "the key "__proto__" at rows[1] is not allowed"). The protection is the same:
 * `__proto__` keys, and `constructor` keys holding `prototype`, are refused anywhere in the body,
 * since code that copies such an object with plain assignment would change a prototype.
 */
/** Bodies longer than this hand over to the route on the next turn of the event loop. */
const DEFER_AFTER_PARSE_CHARS = 128 * 1024;

export function registerJsonBodyParser(app: FastifyInstance): void {
  // JSON is the only body the API takes by default: without Fastify's own text/plain parser, a
  // text body sent to a JSON route is a 415 naming the accepted type, not a confusing 400 from
  // the schema. Routes that take more (dataset uploads) add their own parsers.
  app.removeContentTypeParser('text/plain');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, text, done) => {
    let value: unknown;
    try {
      value = parseJsonBody(text as string);
    } catch (error) {
      done(error as Error, undefined);
      return;
    }
    // A large body's parse is a long task of its own: the route (validation, handler) runs on the
    // next turn of the event loop rather than in the same one (a 10,000-row predict body, 550 kB,
    // parses in 6–15 ms).
    if ((text as string).length > DEFER_AFTER_PARSE_CHARS) setImmediate(() => done(null, value));
    else done(null, value);
  });
}

export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') throw invalid('VALIDATION', 'body is empty; send a JSON value');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalid('VALIDATION', `body is not valid JSON: ${(error as Error).message.slice(0, 200)}`);
  }
  // Only a body that mentions one of the keys (possibly \u-escaped) needs walking.
  if (/proto|constructor|\\u/.test(text)) checkKeys(value);
  return value;
}

/** Walks the parsed value without recursion, so depth cannot exhaust the stack. */
function checkKeys(root: unknown): void {
  const stack: { value: unknown; path: string }[] = [{ value: root, path: '' }];
  while (stack.length > 0) {
    const { value, path } = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (Array.isArray(value)) {
      value.forEach((item, index) => stack.push({ value: item, path: `${path}[${index}]` }));
      continue;
    }
    for (const key of Object.keys(value)) {
      const child = (value as Record<string, unknown>)[key];
      if (key === '__proto__' || (key === 'constructor' && isObjectWith(child, 'prototype'))) {
        const what = key === '__proto__' ? 'the key "__proto__"' : 'the key "constructor" holding "prototype"';
        throw invalid(
          'VALIDATION',
          `body: ${what} ${path ? `in ${path} ` : ''}is not allowed: it could change object prototypes`,
        );
      }
      stack.push({ value: child, path: path ? `${path}.${key}` : key });
    }
  }
}

function isObjectWith(value: unknown, key: string): boolean {
  return value !== null && typeof value === 'object' && Object.prototype.hasOwnProperty.call(value, key);
}
