import { getDomain } from 'tldts';
import { BrokerError, type FieldError } from '../errors/broker-error.ts';

/**
 * The most problems one 422 lists. A list of 100 000 bad entries in a 200 KB body made a 14 MB answer and cost
 * ~200 ms of CPU (fuzz finding); the rest are counted ("and N more").
 */
const MAX_FIELD_ERRORS = 20;

/**
 * Request-body validation for the management API. Collects every problem, then throws one 422
 * (`validation_failed`) whose `errors` name each field, in the shape the WorkOS SDK turns into
 * `UnprocessableEntityException`.
 */
export class Validator {
  readonly errors: FieldError[] = [];
  /** Problems past MAX_FIELD_ERRORS: counted, not listed. */
  private omitted = 0;

  /** Records that `field` fails; `message` completes the sentence "<field> …". */
  fail(field: string, message: string): void {
    if (this.errors.length < MAX_FIELD_ERRORS) this.errors.push({ field, code: `${field} ${message}` });
    else this.omitted++;
  }

  /** Throws the 422 if anything failed; `detail` goes to the request's log line only. */
  done(detail?: Record<string, unknown>): void {
    if (this.errors.length > 0) {
      const more = this.omitted > 0 ? `; and ${this.omitted} more` : '';
      throw new BrokerError('validation_failed', {
        message: `Validation failed: ${this.errors.map((e) => e.code).join('; ')}${more}`,
        fields: this.errors,
        ...(detail ? { detail } : {}),
      });
    }
  }

  string(
    body: Record<string, unknown>,
    field: string,
    opts: { required?: boolean; max: number; nullable?: boolean },
  ): string | null | undefined {
    const v = body[field];
    if (v === undefined) {
      if (opts.required) this.fail(field, 'is required');
      return undefined;
    }
    if (v === null) {
      if (opts.nullable) return null;
      this.fail(field, 'must be a string');
      return undefined;
    }
    if (typeof v !== 'string') {
      this.fail(field, 'must be a string');
      return undefined;
    }
    const trimmed = v.trim();
    if (opts.required && trimmed === '') {
      this.fail(field, 'must not be empty');
      return undefined;
    }
    if (trimmed.length > opts.max) {
      this.fail(field, `must be at most ${opts.max} characters`);
      return undefined;
    }
    return trimmed;
  }

  /** An ISO 8601 date-time (a date alone means its midnight UTC); empty or absent is undefined. */
  timestamp(field: string, raw: string | undefined): Date | undefined {
    if (raw === undefined || raw === '') return undefined;
    const at =
      raw.length <= 64 && /^\d{4}-\d{2}-\d{2}([Tt ][\d:.]+([Zz]|[+-]\d{2}:?\d{2})?)?$/.test(raw)
        ? new Date(raw)
        : null;
    if (!at || Number.isNaN(at.getTime())) {
      this.fail(field, 'must be an ISO 8601 date-time, such as 2025-01-31T00:00:00Z');
      return undefined;
    }
    return at;
  }

  boolean(body: Record<string, unknown>, field: string): boolean | undefined {
    const v = body[field];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') {
      this.fail(field, 'must be true or false');
      return undefined;
    }
    return v;
  }

  /** WorkOS metadata: at most 50 string values, keys up to 40 characters, values up to 600. */
  metadata(body: Record<string, unknown>, field: string): Record<string, string> | undefined {
    const v = body[field];
    if (v === undefined) return undefined;
    if (v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v)) {
      this.fail(field, 'must be an object of string values');
      return undefined;
    }
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length > 50) this.fail(field, 'may have at most 50 keys');
    const out: Record<string, string> = {};
    for (const [k, val] of entries) {
      if (k.length === 0 || k.length > 40) this.fail(`${field}.${k}`, 'key must be 1 to 40 characters');
      else if (typeof val !== 'string') this.fail(`${field}.${k}`, 'must be a string');
      else if (val.length > 600) this.fail(`${field}.${k}`, 'must be at most 600 characters');
      else out[k] = val;
    }
    return out;
  }
}

/** An email address as Gatehouse accepts one from a person (operators, IT contacts): local@domain, no spaces. */
export function isEmail(value: string): boolean {
  return /^[^\s@]{1,64}@[^\s@]{1,255}$/.test(value);
}

/** A JSON object body, or a 422 saying it must be one. */
export function objectBody(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw new BrokerError('validation_failed', {
      message: 'The request body must be a JSON object.',
      fields: [{ field: 'body', code: 'body must be a JSON object' }],
    });
  }
  return body as Record<string, unknown>;
}

/**
 * Normalises an organization domain (lower-case, no trailing dot) or returns why it is not one. Refuses IP
 * addresses and bare public suffixes (`com`, `co.uk`, `github.io`), which no organization can own.
 */
export function normalizeDomain(raw: unknown): { ok: true; domain: string } | { ok: false; reason: string } {
  if (typeof raw !== 'string') return { ok: false, reason: 'must be a string' };
  const d = raw.trim().toLowerCase().replace(/\.$/, '');
  if (d.length === 0 || d.length > 253)
    return { ok: false, reason: 'must be a domain name of at most 253 characters' };
  if (!/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/.test(d) || /^[\d.]+$/.test(d)) {
    return { ok: false, reason: `"${raw}" is not a domain name` };
  }
  if (getDomain(d, { allowPrivateDomains: true }) === null) {
    return { ok: false, reason: `"${d}" is a public suffix, not an organization's domain` };
  }
  return { ok: true, domain: d };
}
