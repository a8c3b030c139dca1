import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { AppError } from '../errors';

export interface ErrorBody {
  error: { code: string; message: string };
}

interface ValidationIssue {
  instancePath: string;
  message?: string;
  keyword?: string;
  params?: Record<string, unknown>;
}

/** "/model/hidden/0/dropout" → "model.hidden[0].dropout". */
function fieldName(path: string, root: string): string {
  const parts = path.split('/').filter(Boolean);
  let name = root;
  for (const part of parts) name += /^\d+$/.test(part) ? `[${part}]` : name ? `.${part}` : part;
  return name || '(body)';
}

/**
 * A union error ("Invalid input") says nothing useful; the message of its most specific branch
 * does. Branches that only complain about the value's type are the least specific.
 */
function issueMessage(issue: ValidationIssue): string {
  const branches = issue.params?.errors as { code: string; message: string }[][] | undefined;
  if (issue.keyword === 'invalid_union' && Array.isArray(branches) && branches.length > 0) {
    const ranked = [...branches].sort(
      (a, b) => Number(a[0]?.code === 'invalid_type') - Number(b[0]?.code === 'invalid_type'),
    );
    return ranked[0][0]?.message ?? issue.message ?? 'invalid value';
  }
  return issue.message ?? 'invalid value';
}

export function formatValidation(issues: ValidationIssue[], context: string): string {
  const root = context === 'body' ? '' : context;
  return issues
    .slice(0, 5)
    .map((issue) => `${fieldName(issue.instancePath, root)}: ${issueMessage(issue)}`)
    .join('; ');
}

/**
 * One error handler for the app: bad input becomes a 4xx with a message that names the field;
 * anything unexpected is logged in full and answered with a 500 that hides internals.
 */
export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | AppError, request, reply) => {
    if (error instanceof AppError) {
      return reply.status(error.status).send(body(error.code, error.message));
    }
    if (hasZodFastifySchemaValidationErrors(error)) {
      const context = (error as FastifyError).validationContext ?? 'body';
      return reply
        .status(400)
        .send(body('VALIDATION', formatValidation(error.validation as ValidationIssue[], context)));
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      return reply.status(status).send(body(clientCode(error, status), error.message));
    }
    request.log.error({ err: error }, 'request failed');
    return reply.status(500).send(body('INTERNAL', 'internal error'));
  });

  app.setNotFoundHandler((request, reply) => {
    const error = new AppError('ROUTE_NOT_FOUND', { method: request.method, url: request.url });
    return reply.status(404).send(body(error.code, error.message));
  });
}

function clientCode(error: FastifyError, status: number): string {
  if (status === 413) return 'PAYLOAD_TOO_LARGE';
  if (status === 415) return 'UNSUPPORTED_MEDIA_TYPE';
  if (status === 400) return 'VALIDATION';
  return error.code ?? 'CLIENT_ERROR';
}

function body(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}
