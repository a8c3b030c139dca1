import SwaggerParser from '@apidevtools/swagger-parser';
import Ajv, { type ValidateFunction } from 'ajv-draft-04';
import addFormats from 'ajv-formats';

/**
 * Checks real HTTP responses against an OpenAPI 3.0 document: the route and the status must be
 * documented, the content type must be one the status documents (or none, for a response the
 * document gives no content), a JSON body must match its schema, documented headers must match
 * theirs (required ones must be present), and the headers clients act on must be documented
 * wherever they are sent.
 *
 * Ajv is the validator: OpenAPI 3.0 schema objects are JSON Schema draft 04/05 with a few
 * keywords of their own, so they run on Ajv's draft-04 class (boolean `exclusiveMinimum`), with
 * `nullable` and `discriminator` (Ajv supports both) and the annotation keywords declared.
 * OpenAPI-level response validators were tried first: openapi-backend (maintained) refuses the
 * document's draft-04 bounds and checks only `application/json` bodies, passing any status it
 * has no schema for; openapi-response-validator has had no release for years.
 */

type Json = Record<string, unknown>;
interface MediaType {
  schema?: Json;
  /** text/event-stream: event name → the schema of its `data` (this API's extension). */
  'x-events'?: Record<string, Json>;
}
interface Header {
  required?: boolean;
  schema?: Json;
}
interface ResponseObject {
  description: string;
  headers?: Record<string, Header>;
  content?: Record<string, MediaType>;
}
interface Operation {
  operationId?: string;
  responses: Record<string, ResponseObject>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
}

/** What a check needs of a response; supertest's Response has all of it. */
export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text?: string;
  body?: unknown;
  req: { method: string; path: string };
}

/** Headers a client acts on: wherever one is sent, the document must say so. */
const WATCHED_HEADERS = [
  'retry-after',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  'idempotent-replayed',
  'x-model-id',
];

const ANNOTATIONS = ['example', 'deprecated', 'readOnly', 'writeOnly', 'xml', 'externalDocs'];

export class ContractValidator {
  /** `METHOD /path/{template} status` of every response checked. */
  readonly seen = new Set<string>();
  private readonly ajv: Ajv;
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly routes: {
    method: string;
    template: string;
    pattern: RegExp;
    literal: number;
    operation: Operation;
  }[];

  private constructor(document: Document) {
    this.ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, strictTuples: false, discriminator: true });
    this.ajv.addVocabulary(ANNOTATIONS);
    addFormats(this.ajv);
    this.routes = [];
    for (const [template, item] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        const source = template
          .split(/(\{[^}]+\})/)
          .map((part) => (part.startsWith('{') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
          .join('');
        this.routes.push({
          method: method.toUpperCase(),
          template,
          pattern: new RegExp(`^${source}$`),
          // More literal characters first: /a/{id}/report before /a/{id}.
          literal: template.replace(/\{[^}]+\}/g, '').length,
          operation,
        });
      }
    }
    this.routes.sort((a, b) => b.literal - a.literal);
  }

  /** From the document as served (a copy is dereferenced; the original is left as it is). */
  static async fromDocument(document: unknown): Promise<ContractValidator> {
    const dereferenced = (await SwaggerParser.dereference(structuredClone(document) as never)) as unknown as Document;
    return new ContractValidator(dereferenced);
  }

  /** Throws an Error listing every way the response departs from the document. */
  check(res: HttpResponse): void {
    const problems = this.problems(res);
    if (problems.length > 0) {
      const body = (res.text ?? '').slice(0, 400);
      throw new Error(
        `${res.req.method} ${res.req.path} → ${res.status} breaks the contract:\n  ${problems.join('\n  ')}\nbody: ${body}`,
      );
    }
  }

  problems(res: HttpResponse): string[] {
    const method = res.req.method.toUpperCase();
    const path = res.req.path.split('?', 1)[0];
    const route = this.routes.find((r) => r.method === (method === 'HEAD' ? 'GET' : method) && r.pattern.test(path));
    if (!route) return [`no operation ${method} ${path} in the document`];
    const status = String(res.status);
    this.seen.add(`${route.method} ${route.template} ${status}`);
    const response =
      route.operation.responses[status] ??
      route.operation.responses[`${status[0]}XX`] ??
      route.operation.responses.default;
    if (!response) {
      return [`status ${status} is not documented (documented: ${Object.keys(route.operation.responses).join(', ')})`];
    }
    return [
      ...this.headerProblems(res, response),
      ...this.bodyProblems(res, response, `${route.method} ${route.template} ${status}`),
    ];
  }

  private headerProblems(res: HttpResponse, response: ResponseObject): string[] {
    const problems: string[] = [];
    const documented = new Map(
      Object.entries(response.headers ?? {}).map(([name, header]) => [name.toLowerCase(), header]),
    );
    for (const name of WATCHED_HEADERS) {
      if (res.headers[name] !== undefined && !documented.has(name))
        problems.push(`header ${name} is sent but not documented`);
    }
    for (const [name, header] of documented) {
      const value = res.headers[name];
      if (value === undefined) {
        if (header.required) problems.push(`required header ${name} is missing`);
        continue;
      }
      if (!header.schema) continue;
      const validate = this.compile(`header ${name} ${JSON.stringify(header.schema)}`, header.schema);
      const text = Array.isArray(value) ? value.join(', ') : value;
      const type = header.schema.type;
      const parsed =
        type === 'integer' || type === 'number'
          ? Number(text)
          : type === 'boolean'
            ? text === 'true'
              ? true
              : text === 'false'
                ? false
                : text
            : text;
      if (!validate(parsed))
        problems.push(`header ${name}: ${JSON.stringify(text)} ${this.ajv.errorsText(validate.errors)}`);
    }
    return problems;
  }

  private bodyProblems(res: HttpResponse, response: ResponseObject, key: string): string[] {
    const contentType = headerValue(res.headers['content-type']);
    const length = headerValue(res.headers['content-length']);
    const hasBody = (res.text !== undefined && res.text !== '') || (length !== undefined && length !== '0');
    const content = response.content ?? {};
    if (!hasBody) {
      return Object.keys(content).length > 0 && res.status !== 204
        ? [`no body, but the document gives ${Object.keys(content).join(', ')}`]
        : [];
    }
    if (!contentType) return ['a body without a content type'];
    const mediaType = contentType.split(';', 1)[0].trim().toLowerCase();
    const documented = content[mediaType];
    if (!documented) {
      const listed = Object.keys(content);
      return [
        `content type ${mediaType} is not documented (documented: ${listed.length > 0 ? listed.join(', ') : 'no content'})`,
      ];
    }
    if (!documented.schema) return [];
    if (mediaType === 'application/json' || mediaType.endsWith('+json')) {
      let value: unknown;
      try {
        value = JSON.parse(res.text ?? '');
      } catch (error) {
        return [`the body is not JSON: ${(error as Error).message}`];
      }
      const validate = this.compile(`${key} ${mediaType}`, documented.schema);
      if (!validate(value))
        return [`body: ${this.ajv.errorsText(validate.errors, { dataVar: 'body', separator: '\n    ' })}`];
      return [];
    }
    if (mediaType === 'text/event-stream' && documented['x-events']) {
      return this.eventProblems(res.text ?? '', documented['x-events'], key);
    }
    // Text and binary bodies: the schema can only say "a string".
    return documented.schema.type === 'string'
      ? []
      : [`${mediaType} is documented with a schema of type ${String(documented.schema.type)}`];
  }

  /** Each event of a Server-Sent Events body: a documented name, and `data` valid for it. */
  private eventProblems(text: string, events: Record<string, Json>, key: string): string[] {
    const problems: string[] = [];
    for (const block of text.split(/\n\n+/)) {
      const lines = block.split('\n').filter((line) => line !== '' && !line.startsWith(':'));
      const event =
        lines
          .find((line) => line.startsWith('event:'))
          ?.slice(6)
          .trim() ?? 'message';
      const data = lines
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trim())
        .join('\n');
      if (data === '') continue; // a retry: or comment-only block
      const schema = events[event];
      if (!schema) {
        problems.push(`event "${event}" is not documented (documented: ${Object.keys(events).join(', ')})`);
        continue;
      }
      let value: unknown;
      try {
        value = JSON.parse(data);
      } catch (error) {
        problems.push(`event "${event}": data is not JSON: ${(error as Error).message}`);
        continue;
      }
      const validate = this.compile(`${key} event ${event}`, schema);
      if (!validate(value))
        problems.push(`event "${event}": ${this.ajv.errorsText(validate.errors, { dataVar: 'data' })}`);
    }
    return problems;
  }

  private compile(key: string, schema: Json): ValidateFunction {
    let validate = this.validators.get(key);
    if (!validate) {
      validate = this.ajv.compile(schema);
      this.validators.set(key, validate);
    }
    return validate;
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
