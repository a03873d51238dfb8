import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import * as domains from '../../portal/domains.ts';
import {
  contextFor,
  launch,
  type PortalContext,
  type PortalDeps,
  type PortalResult,
  sessionEnded,
} from '../../portal/portal.ts';
import { ASSETS, PORTAL_HEADERS, portalHeaders } from '../../portal/render.ts';
import * as sso from '../../portal/sso.ts';
import { startTest, testResult } from '../../portal/test-sign-in.ts';
import { bindingCookies } from '../cookies.ts';
import { formFields, queryFields, type SingleFields } from './body.ts';
import { writeOutcome } from './sso.ts';

/**
 * The Admin Portal's routes (`/portal/…`): parse the edge, find the portal session, check the CSRF token of every
 * form, call `portal/`, write its result (renewing the session cookie). Forms are urlencoded, except the metadata
 * upload (multipart, one file of at most `METADATA_FILE_BYTES`).
 */

const METADATA_FILE_BYTES = 1024 * 1024;

type Form = SingleFields;
const formOf = formFields;
const queryOf = (request: FastifyRequest): Form => queryFields(request.url);

export function portalRoutes(app: FastifyInstance, deps: PortalDeps): void {
  const binding = bindingCookies(deps.publicUrl);

  function write(reply: FastifyReply, result: PortalResult): FastifyReply {
    if (result.session) reply.header('set-cookie', deps.sessions.cookie(result.session, deps.now()));
    if (result.kind === 'redirect') {
      return reply
        .headers({ 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' })
        .redirect(result.location, 303);
    }
    const headers = result.formActions?.length ? portalHeaders(result.formActions) : PORTAL_HEADERS;
    return reply.code(result.status).headers(headers).send(result.html);
  }

  /** The context of a request with a live session, or the page that says the session has ended. */
  async function context(request: FastifyRequest): Promise<PortalContext | PortalResult> {
    const session = deps.sessions.read(request.headers.cookie, deps.now());
    if (!session) return sessionEnded(deps, request.id);
    return (await contextFor(deps, session, request.id)) ?? sessionEnded(deps, request.id);
  }
  const isContext = (c: PortalContext | PortalResult): c is PortalContext => 'csrf' in c;

  /** A form post: the session and its CSRF token checked first. */
  async function posted(
    request: FastifyRequest,
    reply: FastifyReply,
    form: Form,
    then: (ctx: PortalContext) => Promise<PortalResult>,
  ): Promise<FastifyReply> {
    const ctx = await context(request);
    if (!isContext(ctx)) return write(reply, ctx);
    if (!deps.sessions.checkCsrf(ctx.session, form.csrf)) return write(reply, csrfRefused(ctx));
    return write(reply, await then(ctx));
  }

  const csrfRefused = (ctx: PortalContext): PortalResult => sso.refused(deps, ctx);

  app.register(async (portal) => {
    await portal.register(multipart, {
      limits: { fileSize: METADATA_FILE_BYTES, files: 1, fields: 10, fieldSize: 4096, parts: 11 },
    });

    portal.get<{ Params: { name: string } }>('/portal/assets/:name', async (request, reply) => {
      const asset = Object.hasOwn(ASSETS, request.params.name) ? ASSETS[request.params.name] : undefined;
      if (!asset) return reply.code(404).headers(PORTAL_HEADERS).send('');
      return reply
        .headers({
          'content-type': asset.type,
          'cache-control': 'public, max-age=3600',
          'x-content-type-options': 'nosniff',
        })
        .send(asset.body);
    });

    portal.get('/portal/launch', async (request, reply) =>
      write(reply, await launch(deps, queryOf(request).token, request.id)),
    );

    portal.get('/portal/', async (request, reply) => {
      const ctx = await context(request);
      if (!isContext(ctx)) return write(reply, ctx);
      if (ctx.session.intent === 'domain_verification') {
        return write(reply, {
          kind: 'redirect',
          location: `${new URL(deps.publicUrl).pathname.replace(/\/+$/, '')}/portal/domains`,
          session: ctx.session,
        });
      }
      return write(reply, await sso.ssoHome(deps, ctx));
    });

    // The domain_verification intent (portal/domains.ts).
    portal.get('/portal/domains', async (request, reply) => {
      const ctx = await context(request);
      return write(reply, isContext(ctx) ? await domains.domainsHome(deps, ctx) : ctx);
    });

    portal.post('/portal/domains', async (request, reply) => {
      const form = formOf(request.body);
      return posted(request, reply, form, (ctx) => domains.addDomain(deps, ctx, form.domain));
    });

    portal.get<{ Params: { id: string } }>('/portal/domains/:id', async (request, reply) => {
      const ctx = await context(request);
      return write(reply, isContext(ctx) ? await domains.domainPage(deps, ctx, request.params.id) : ctx);
    });

    portal.post<{ Params: { id: string } }>('/portal/domains/:id/verify', async (request, reply) => {
      const form = formOf(request.body);
      return posted(request, reply, form, (ctx) => domains.verify(deps, ctx, request.params.id));
    });

    portal.get('/portal/sso/choose', async (request, reply) => {
      const ctx = await context(request);
      return write(reply, isContext(ctx) ? sso.choose(deps, ctx) : ctx);
    });

    portal.post('/portal/sso/start', async (request, reply) => {
      const form = formOf(request.body);
      return posted(request, reply, form, (ctx) => sso.start(deps, ctx, form.guide));
    });

    portal.get<{ Params: { id: string } }>('/portal/sso/connections/:id', async (request, reply) => {
      const ctx = await context(request);
      if (!isContext(ctx)) return write(reply, ctx);
      const q = queryOf(request);
      return write(
        reply,
        await sso.connectionPage(deps, ctx, request.params.id, {
          ...(q.saved ? { notice: 'saved' } : q.activated ? { notice: 'activated' } : {}),
        }),
      );
    });

    portal.post<{ Params: { id: string } }>('/portal/sso/connections/:id/idp', async (request, reply) => {
      if (!request.isMultipart()) {
        const form = formOf(request.body);
        return posted(request, reply, form, (ctx) => sso.saveIdp(deps, ctx, request.params.id, form, null));
      }
      // The metadata upload: its fields and its one file, read within the limits (a larger file is refused).
      const form: Form = {};
      let file: string | null = null;
      let tooLarge = false;
      let unreadable = false;
      try {
        for await (const part of request.parts()) {
          if (part.type === 'file') {
            const content = await part.toBuffer().catch(() => null);
            if (part.file.truncated || content === null) tooLarge = true;
            else if (part.fieldname === 'metadata_file' && content.length > 0)
              file = content.toString('utf8');
          } else if (typeof part.value === 'string') {
            form[part.fieldname] = part.value;
          }
        }
      } catch (err) {
        // The parts iterator rethrows a file over the limit (and any other limit or malformed body) at its next
        // step: a page by the field, not a 500.
        if ((err as { code?: unknown }).code === 'FST_REQ_FILE_TOO_LARGE') tooLarge = true;
        else unreadable = true;
      }
      return posted(request, reply, form, (ctx) =>
        tooLarge
          ? sso.connectionPage(deps, ctx, request.params.id, {
              errors: {
                metadata_file: `The metadata file is larger than ${METADATA_FILE_BYTES / 1024} KiB: it cannot be a SAML metadata document of one identity provider.`,
              },
              status: 413,
            })
          : unreadable
            ? sso.connectionPage(deps, ctx, request.params.id, {
                errors: {
                  metadata_file: 'The upload could not be read: choose one metadata file and try again.',
                },
                status: 400,
              })
            : sso.saveIdp(deps, ctx, request.params.id, form, file),
      );
    });

    portal.post<{ Params: { id: string } }>(
      '/portal/sso/connections/:id/attributes',
      async (request, reply) => {
        const form = formOf(request.body);
        return posted(request, reply, form, (ctx) => sso.saveAttributes(deps, ctx, request.params.id, form));
      },
    );

    portal.post<{ Params: { id: string } }>(
      '/portal/sso/connections/:id/activate',
      async (request, reply) => {
        const form = formOf(request.body);
        return posted(request, reply, form, (ctx) => sso.activate(deps, ctx, request.params.id));
      },
    );

    portal.get<{ Params: { id: string } }>('/portal/sso/connections/:id/test', async (request, reply) => {
      const ctx = await context(request);
      if (!isContext(ctx)) return write(reply, ctx);
      if (!deps.sessions.checkCsrf(ctx.session, queryOf(request).csrf)) return write(reply, csrfRefused(ctx));
      const connection = await sso.ownConnection(deps, ctx, request.params.id);
      if (!connection || connection.state === 'draft') {
        return write(reply, await sso.connectionPage(deps, ctx, request.params.id));
      }
      const outcome = await startTest(deps, ctx, connection, binding.read(request.headers.cookie));
      reply.header('set-cookie', deps.sessions.cookie(ctx.session, deps.now()));
      return writeOutcome(reply, outcome, binding);
    });

    portal.get('/portal/sso/test/result', async (request, reply) => {
      const ctx = await context(request);
      if (!isContext(ctx)) return write(reply, ctx);
      return write(reply, await testResult(deps, ctx, queryOf(request), request.log));
    });
  });
}
