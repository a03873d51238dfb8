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

/** Fields given once, from a parsed form or query: name → value (a repeated or absent field is undefined). */
export type SingleFields = Record<string, string | undefined>;

function single(parsed: ParsedQuery): SingleFields {
  const out: SingleFields = {};
  for (const [name, values] of parsed.values) if (values.length === 1) out[name] = values[0];
  return out;
}

/** The fields of a urlencoded form body given once (none for another kind of body). */
export function formFields(body: unknown): SingleFields {
  return isFormBody(body) ? single(body) : {};
}

/** The fields of a request URL's query given once. */
export function queryFields(url: string): SingleFields {
  const q = url.indexOf('?');
  return single(parseQuery(q === -1 ? '' : url.slice(q + 1)));
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
