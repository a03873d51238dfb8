import type { FastifyInstance } from 'fastify';
import { type ParsedQuery, parseQuery } from '../../lib/urlencoded.ts';

/**
 * `application/x-www-form-urlencoded` bodies (the token endpoint, the consent form), parsed with every value
 * kept so that repeated parameters can be refused. Marked so routes can tell them from JSON.
 */
export interface FormBody extends ParsedQuery {
  readonly form: true;
}

export function isFormBody(body: unknown): body is FormBody {
  return typeof body === 'object' && body !== null && (body as { form?: unknown }).form === true;
}

export function registerFormParser(app: FastifyInstance, bodyLimit: number): void {
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit },
    (_request, body, done) => {
      const text = typeof body === 'string' ? body : body.toString('utf8');
      done(null, { ...parseQuery(text), form: true } satisfies FormBody);
    },
  );
}
