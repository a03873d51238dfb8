/**
 * Generates docs/configuration.md and docs/errors.md from the code that defines them (src/config/schema.ts,
 * src/errors/catalog.ts and its explanation table src/errors/explanations.ts). `npm run docs` writes them;
 * test/docs.test.ts fails when a committed file differs from what this produces.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { variables } from '../src/config/schema.ts';
import { type CatalogEntry, catalog, OAUTH_FAILED } from '../src/errors/catalog.ts';
import {
  AUDIENCES,
  type ExplanationRow,
  type IdpVariant,
  REASONS,
  renderRow,
  SIGNALS,
  TEXT_SIGNALS,
  variantName,
} from '../src/errors/explanations.ts';

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function configurationDoc(): string {
  const rows = Object.values(variables).map(
    (v) => `| \`${v.name}\` | ${cell(v.defaultDoc)} | ${cell(v.description)} |`,
  );
  return `# Configuration

<!-- Generated from src/config/schema.ts by \`npm run docs\`. Do not edit by hand. -->

Gatehouse reads its configuration from environment variables. Empty values count as unset. A bad value
stops start-up with a message that names the variable.

| variable | default | meaning |
| --- | --- | --- |
${rows.join('\n')}

## Examples

Development, everything on one machine:

\`\`\`sh
GATEHOUSE_REDIRECT_URIS=http://localhost:3000/callback npm start
\`\`\`

Production behind a TLS-terminating load balancer:

\`\`\`sh
HOST=0.0.0.0 PORT=8080 \\
GATEHOUSE_PUBLIC_URL=https://sso.example.com \\
GATEHOUSE_DATABASE_URL=sqlite:/var/lib/gatehouse/gatehouse.db \\
GATEHOUSE_SECRET_KEY=$(cat /run/secrets/gatehouse_secret_key) \\
GATEHOUSE_API_KEY=$(cat /run/secrets/gatehouse_api_key) \\
GATEHOUSE_REDIRECT_URIS=https://app.example.com/callback \\
npm start
\`\`\`
`;
}

const TRANSPORT: Record<CatalogEntry['transport'], string> = {
  redirect: 'redirect to the app',
  page: 'HTML page',
  api: 'JSON (management API)',
  oauth: 'JSON (token endpoint)',
  bearer: 'JSON + WWW-Authenticate',
};

export function errorsDoc(): string {
  const entries = Object.entries(catalog as Record<string, CatalogEntry>);
  const section = (transport: CatalogEntry['transport']) =>
    entries
      .filter(([, e]) => e.transport === transport)
      .map(([code, e]) => `| \`${code}\` | ${e.status} | \`${e.wire}\` | ${cell(e.description)} |`)
      .join('\n');
  const head = '| catalog code | HTTP | wire code | description |\n| --- | --- | --- | --- |';
  const transports = [...new Set(entries.map(([, e]) => e.transport))];
  return `# Errors

<!-- Generated from src/errors/catalog.ts and src/errors/explanations.ts by \`npm run docs\`. Do not edit by hand. -->

Every error Gatehouse sends is defined once, in \`src/errors/catalog.ts\`. The catalog code is internal
(it appears in logs and on error pages); the **wire code** is what clients see: the \`error\` parameter on a
redirect, or the \`code\` of a JSON error. Descriptions are fixed text: upstream identity provider messages
never reach a browser or an app. Details for operators go to the logs, under the request ID.

How an error travels depends on where it happens:

- Before \`client_id\` and \`redirect_uri\` are verified, \`/sso/authorize\` shows an HTML page (HTTP 400) and
  never redirects (RFC 6749 §4.1.2.1).
- After that, every \`/sso/authorize\` error is a 302 to the app's redirect URI with \`error\`,
  \`error_description\`, the app's \`state\` exactly as sent (absent if it sent none) and \`iss\` (RFC 9207).
- On OAuth provider connections (\`provider=GoogleOAuth\`, \`MicrosoftOAuth\`, \`GitHubOAuth\`), every
  redirect whose wire code below is \`server_error\` carries \`${OAUTH_FAILED}\` instead, with the same
  description (WorkOS's code for a failed OAuth sign-in); denials stay \`access_denied\`.
- The management API answers \`{ "message", "code", "errors"? }\` with the HTTP status, the shape the WorkOS
  SDK turns into its exceptions (401 → \`UnauthorizedException\`, 404 → \`NotFoundException\`,
  409 → \`ConflictException\`, 422 → \`UnprocessableEntityException\`).
${transports.map((t) => `\n## ${TRANSPORT[t]}\n\n${head}\n${section(t)}\n`).join('')}${explanationsDoc()}`;
}

const yesNo = (b: boolean) => (b ? 'yes' : 'no');
/** Explanation text in a table cell: `<placeholders>` shown as text, not taken for HTML. */
const prose = (s: string) => cell(s).replace(/</g, '&lt;');

/** The variants of a row, each rendered for its IdP. */
function variantLines(key: string, row: ExplanationRow): string[] {
  return Object.keys(row.variants ?? {}).map((v) => {
    const r = renderRow(row, key, v as IdpVariant);
    const parts = [`**${variantName(v as IdpVariant)}**`];
    if (r.audience !== row.audience) parts.push(`(audience: ${r.audience})`);
    return `  - ${parts.join(' ')}: ${prose(r.fix)}`;
  });
}

/** The explanation table (src/errors/explanations.ts): per reason, per IdP signal, and the IdP-specific fixes. */
export function explanationsDoc(): string {
  const reasons = Object.entries(REASONS).map(([key, row]) => {
    const r = renderRow(row, key);
    return `| \`${key}\` | ${r.audience} | ${yesNo(r.retryable)} | ${prose(r.explanation)} | ${prose(r.fix)} |`;
  });
  const signals = Object.entries(SIGNALS).map(([key, row]) => {
    const r = renderRow(row, key);
    return `| \`${key}\` | ${row.vendor} | \`${row.reason}\` | ${r.audience} | ${yesNo(r.retryable)} | ${prose(r.explanation)} | ${prose(r.fix)} |`;
  });
  const variants = [...Object.entries(REASONS), ...Object.entries(SIGNALS)]
    .filter(([, row]) => row.variants)
    .map(([key, row]) => `- \`${key}\`\n${variantLines(key, row).join('\n')}`);
  const texts = TEXT_SIGNALS.map(([pattern, key]) => `- \`${key}\`: \`${cell(String(pattern))}\``);
  return `
## Explanations

Every failed sign-in in the session log (\`GET /sso/sessions\`, \`GET /sso/sessions/{id}\`) carries an explanation
for the person who can fix it, computed when it is read from the record's \`reason\`, \`upstream_error\` and
\`detail\` (so older records are explained too), with the connection's identity provider named:

- \`audience\`: ${Object.entries(AUDIENCES)
    .map(([a, who]) => `\`${a}\` (${who})`)
    .join(', ')};
- \`retryable\`: whether the same sign-in can succeed if tried again (at once, or once the user did what the fix says);
- \`explanation\` and \`fix\`: what happened and what to change, naming the identity provider's console setting.

A signal from the identity provider (below) is more precise than the reason it maps to, so its row is used when
the record carries one; an unknown reason or signal falls back to the reason's row, or to a generic one. A sign-in
whose login expired before the user came back is \`timed_out\` (outcome), explained by the \`timed_out\` rows.
None of this text reaches a browser or the app: it is for the session log only.

### By reason

| reason | audience | retry helps | explanation | fix |
| --- | --- | --- | --- | --- |
${reasons.join('\n')}

### By signal from the identity provider

Signals are read from the session log's \`upstream_error\`: \`AADSTS<n>\` (Entra's number, in
\`error_description\`, \`error_codes\` or a SAML \`StatusMessage\`), \`error=<value>\` (the OAuth \`error\`), \`saml:<code>\`
(a SAML second-level status code), texts (below); and \`saml:certificate_expired\` from \`detail\`. The reason column
is the catalog code the signal maps to.

| signal | from | reason | audience | retry helps | explanation | fix |
| --- | --- | --- | --- | --- | --- | --- |
${signals.join('\n')}

Texts that name a signal (in \`error_description\`, \`status_message\` or \`message\`):

${texts.join('\n')}

### Fixes for a given identity provider

Where the fix depends on the identity provider (chosen by the connection type), the session log gives that text:

${variants.join('\n')}
`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(new URL('../docs/configuration.md', import.meta.url), configurationDoc());
  writeFileSync(new URL('../docs/errors.md', import.meta.url), errorsDoc());
  process.stdout.write('wrote docs/configuration.md and docs/errors.md\n');
}
