import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { WorkOS } from '@workos-inc/node';

/**
 * The code a reader pastes from the README and docs works with the installed SDK:
 * - every ```ts block of README.md, docs/**\/*.md and bench/README.md type-checks under the project's
 *   tsconfig (strict), with the installed @workos-inc/node, in one tsc run;
 * - every SDK method the prose names (`sso.getProfile()`, `organizationDomains.getOrganizationDomain(id)`, …)
 *   exists on the installed SDK.
 */

const ROOT = new URL('../../', import.meta.url).pathname;
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

/** The Markdown files whose snippets are checked, relative to the project root. */
function markdownFiles(): string[] {
  const docs = (dir: string): string[] =>
    readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? docs(join(dir, e.name)) : e.name.endsWith('.md') ? [join(dir, e.name)] : [],
    );
  return ['README.md', 'bench/README.md', ...docs('docs')];
}

interface Snippet {
  /** `README.md:29`: the file and the line of the opening fence. */
  where: string;
  file: string;
  fenceLine: number;
  code: string;
}

function tsSnippets(file: string, text: string): Snippet[] {
  const out: Snippet[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*(\S*)/.exec(lines[i] ?? '');
    if (!open) continue;
    const [, , fence = '```', lang] = open;
    let end = i + 1;
    while (end < lines.length && !(lines[end] ?? '').trim().startsWith(fence)) end++;
    if (lang === 'ts' || lang === 'typescript') {
      out.push({
        where: `${file}:${i + 1}`,
        file,
        fenceLine: i + 1,
        code: lines.slice(i + 1, end).join('\n'),
      });
    }
    i = end;
  }
  return out;
}

/**
 * What a snippet may use without declaring it: what the app has at that point (the `state` it generated,
 * the `code` from its callback URL) and what the README's first snippet sets up (`workos`, `clientId`).
 * Nothing else: a snippet that needs more must declare it, so that a reader can paste it.
 */
const PRELUDE = `import type { WorkOS } from '@workos-inc/node';
declare global {
  /** new WorkOS(apiKey, { apiHostname, port, https, clientId }): the README's first snippet. */
  const workos: WorkOS;
  /** process.env.GATEHOUSE_CLIENT_ID, checked to be set: the README's first snippet. */
  const clientId: string;
  /** The state the app generated for this sign-in and checks at its callback. */
  const state: string;
  /** The code from the app's callback URL. */
  const code: string;
}
export {};
`;

const snippets = markdownFiles().flatMap((f) => tsSnippets(f, readFileSync(join(ROOT, f), 'utf8')));

describe('README and docs: TypeScript snippets', () => {
  it('finds the snippets (the README ones included)', () => {
    assert.ok(
      snippets.filter((s) => s.file === 'README.md').length >= 2,
      snippets.map((s) => s.where).join(', '),
    );
    assert.ok(snippets.some((s) => s.file.startsWith('docs/')));
  });

  it('every ```ts block type-checks with the installed @workos-inc/node under the strict tsconfig (one tsc run)', () => {
    // Under node_modules/ so that @workos-inc/node and @types/node resolve from the project.
    const cache = join(ROOT, 'node_modules/.cache');
    mkdirSync(cache, { recursive: true });
    const dir = mkdtempSync(join(cache, 'doc-snippets-'));
    try {
      const names = new Map<string, Snippet>();
      snippets.forEach((s, i) => {
        // A module (.mts: ES module, so top-level await works); its line N is the Markdown's fenceLine + N.
        const name = `snippet-${i}.mts`;
        names.set(name, s);
        writeFileSync(join(dir, name), `${s.code}\nexport {};\n`);
      });
      writeFileSync(join(dir, 'prelude.d.mts'), PRELUDE);
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          extends: join(ROOT, 'tsconfig.json'),
          compilerOptions: { noEmit: true, strict: true, rootDir: dir },
          files: ['prelude.d.mts', ...names.keys()],
          include: [],
        }),
      );
      const tsc = spawnSync(process.execPath, [TSC, '-p', join(dir, 'tsconfig.json'), '--pretty', 'false'], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(tsc.error, undefined);
      // `snippet-3.mts(12,5): error TS2322: …` → `README.md:41:5: error TS2322: …`
      const errors = `${tsc.stdout}${tsc.stderr}`.replace(
        /^(snippet-\d+\.mts)\((\d+),(\d+)\)/gm,
        (whole, name: string, line: string, col: string) => {
          const s = names.get(name);
          return s ? `${s.file}:${s.fenceLine + Number(line)}:${col}` : whole;
        },
      );
      assert.equal(errors.trim(), '', `doc snippets do not type-check (${relative(ROOT, dir)}):\n${errors}`);
      assert.equal(tsc.status, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('README and docs: SDK methods named in the prose', () => {
  const workos = new WorkOS('sk_test_docs', {
    apiHostname: 'localhost',
    https: false,
    clientId: 'client_docs',
  });
  const sdk = workos as unknown as Record<string, Record<string, unknown>>;
  // The SDK's modules: `sso`, `organizations`, `organizationDomains`, `userManagement`, …
  const modules = Object.keys(workos).filter((k) => {
    const v = sdk[k];
    return typeof v === 'object' && v !== null && /^[a-z][A-Za-z]+$/.test(k);
  });

  it('every `<module>.<method>(` or `<module>.<method>`` in README.md and docs is a method of the installed SDK', () => {
    assert.ok(modules.includes('sso') && modules.includes('organizationDomains'), modules.join(', '));
    const named = new RegExp(`\\b(${modules.join('|')})\\.([A-Za-z]\\w*)(?=[(\`])`, 'g');
    const wrong: string[] = [];
    let seen = 0;
    for (const file of markdownFiles()) {
      readFileSync(join(ROOT, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          for (const [whole, module = '', method = ''] of line.matchAll(named)) {
            seen++;
            if (typeof sdk[module]?.[method] !== 'function') wrong.push(`${file}:${i + 1}: ${whole}`);
          }
        });
    }
    assert.ok(seen >= 10, `only ${seen} SDK methods named: is the pattern still right?`);
    assert.deepEqual(wrong, [], 'methods the installed @workos-inc/node does not have');
  });
});
