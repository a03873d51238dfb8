import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { identityFromClaims } from '../../src/connectors/oidc/callback.ts';
import { connectorFor, supportedConnectionTypes } from '../../src/connectors/registry.ts';
import { mapSamlProfile } from '../../src/connectors/saml/attributes.ts';
import {
  acsUrlRegex,
  GUIDES,
  guideByKey,
  guideForType,
  type IdpGuide,
  type Segment,
  VALUE_LABELS,
  type ValueKey,
} from '../../src/portal/guides.ts';

const SAML_ONLY: ValueKey[] = ['acs_url', 'sp_entity_id', 'sp_metadata_url', 'acs_url_regex'];
const ALLOWED: Record<IdpGuide['protocol'], Set<string>> = {
  saml: new Set(Object.keys(VALUE_LABELS).filter((k) => k !== 'redirect_uri')),
  oidc: new Set(['redirect_uri']),
};

function segments(guide: IdpGuide): Segment[] {
  return [...guide.steps.flatMap((s) => s.text.flat()), ...guide.idpSide.flat(), ...guide.afterwards.flat()];
}

/** Every value key a guide shows: in `values:` lists and in `{ value }` segments. */
function shownValues(guide: IdpGuide): string[] {
  const inline = segments(guide).flatMap((s) => (typeof s === 'object' && 'value' in s ? [s.value] : []));
  return [...guide.steps.flatMap((s) => s.values ?? []), ...inline];
}

function attributeNames(guide: IdpGuide): string[] {
  return guide.steps.flatMap((s) => s.attributes ?? []).map((a) => a.name);
}

describe('Admin Portal guides', () => {
  it('the picker lists the guides in order: SAML providers, generic SAML, then OIDC', () => {
    assert.deepEqual(
      GUIDES.map((g) => g.key),
      [
        'okta-saml',
        'entra-saml',
        'google-saml',
        'adfs-saml',
        'onelogin-saml',
        'jumpcloud-saml',
        'pingfederate-saml',
        'generic-saml',
        'okta-oidc',
        'entra-oidc',
        'generic-oidc',
      ],
    );
  });

  it('each guide creates a connection type of the registry, with the same protocol', () => {
    const types = new Set(supportedConnectionTypes());
    for (const g of GUIDES) {
      assert.ok(types.has(g.connectionType), `${g.key}: ${g.connectionType} is not in the registry`);
      assert.equal(connectorFor(g.connectionType)?.protocol, g.protocol, g.key);
    }
    assert.deepEqual(Object.fromEntries(GUIDES.map((g) => [g.key, g.connectionType])), {
      'okta-saml': 'OktaSAML',
      'entra-saml': 'AzureSAML',
      'google-saml': 'GoogleSAML',
      'adfs-saml': 'ADFSSAML',
      'onelogin-saml': 'OneLoginSAML',
      'jumpcloud-saml': 'JumpCloudSAML',
      'pingfederate-saml': 'PingFederateSAML',
      'generic-saml': 'GenericSAML',
      'okta-oidc': 'OktaOIDC',
      'entra-oidc': 'EntraIdOIDC',
      'generic-oidc': 'GenericOIDC',
    });
  });

  it('keys are unique and URL-safe; guideByKey finds each, and nothing for an unknown or hostile key', () => {
    const keys = GUIDES.map((g) => g.key);
    assert.equal(new Set(keys).size, keys.length);
    for (const key of keys) {
      assert.match(key, /^[a-z0-9]+(-[a-z0-9]+)*$/);
      assert.equal(guideByKey(key)?.key, key);
    }
    for (const bad of [undefined, '', 'nope', '__proto__', 'constructor', 'okta-saml/../x'])
      assert.equal(guideByKey(bad), undefined, String(bad));
  });

  it('no guide has an empty part: steps, where the IdP side is, assignment; no empty label or text', () => {
    for (const g of GUIDES) {
      assert.ok(g.name && g.summary, g.key);
      assert.ok(g.steps.length > 0 && g.idpSide.length > 0 && g.afterwards.length > 0, g.key);
      for (const step of g.steps) {
        assert.ok(step.title.trim(), g.key);
        assert.ok(step.text.length > 0 && step.text.every((p) => p.length > 0), `${g.key}: ${step.title}`);
      }
      for (const s of segments(g)) {
        // Plain text may be a lone space between two labels; a label, code or value never blank.
        if (typeof s === 'string') assert.ok(s.length > 0, `${g.key}: empty text`);
        else assert.ok(('ui' in s ? s.ui : 'code' in s ? s.code : s.value).trim(), `${g.key}: blank segment`);
      }
    }
  });

  it('a guide shows only the values of its protocol: no redirect URI in SAML guides, no ACS URL in OIDC ones', () => {
    for (const g of GUIDES) {
      for (const key of shownValues(g)) {
        assert.ok(key in VALUE_LABELS, `${g.key}: unknown value ${key}`);
        assert.ok(ALLOWED[g.protocol].has(key), `${g.key} (${g.protocol}) shows ${key}`);
      }
      if (g.protocol === 'oidc') for (const k of SAML_ONLY) assert.ok(!shownValues(g).includes(k), g.key);
    }
  });

  it('every SAML guide shows the ACS URL and the entity ID (or the metadata URL); every OIDC guide the redirect URI', () => {
    for (const g of GUIDES) {
      const shown = new Set(shownValues(g));
      if (g.protocol === 'saml') {
        assert.ok(
          (shown.has('acs_url') && shown.has('sp_entity_id')) || shown.has('sp_metadata_url'),
          `${g.key} shows neither the ACS URL and entity ID nor the metadata URL`,
        );
      } else {
        assert.ok(shown.has('redirect_uri'), g.key);
      }
    }
    // OneLogin refuses requests unless its validator matches the ACS URL: the guide must show it.
    assert.ok(shownValues(guideByKey('onelogin-saml') as IdpGuide).includes('acs_url_regex'));
  });

  it('guideForType: each type with a guide gets it, other SAML and OIDC types the generic one, OAuth providers none', () => {
    for (const type of supportedConnectionTypes()) {
      const protocol = connectorFor(type)?.protocol;
      const guide = guideForType(type);
      if (protocol === 'oauth') {
        assert.equal(guide, undefined, type);
        continue;
      }
      assert.ok(guide, `${type} has no guide`);
      assert.equal(guide.protocol, protocol, type);
      const own = GUIDES.find((g) => g.connectionType === type);
      assert.equal(guide.key, own ? own.key : `generic-${protocol}`, type);
    }
    assert.equal(guideForType('AzureSAML')?.key, 'entra-saml');
    assert.equal(guideForType('EntraIdOIDC')?.key, 'entra-oidc');
    assert.equal(guideForType('KeycloakSAML')?.key, 'generic-saml');
    assert.equal(guideForType('PingOneSAML')?.key, 'generic-saml');
    assert.equal(guideForType('GoogleOAuth'), undefined);
    assert.equal(guideForType('NotAType'), undefined);
    assert.equal(guideForType('FakeOIDC'), undefined);
  });

  it("the attributes each SAML guide asks for fill the profile under that guide's connection type", () => {
    // AD FS guides name the outgoing claim types as its console lists them; these are the claim URIs it sends.
    const adfsWire: Record<string, string> = {
      'E-Mail Address': 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
      'Given Name': 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname',
      Surname: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname',
      Group: 'http://schemas.xmlsoap.org/claims/Group',
    };
    for (const g of GUIDES.filter((x) => x.protocol === 'saml')) {
      const attributes: Record<string, unknown> = {};
      let nameId: string | null = 'nameid-value';
      for (const name of attributeNames(g)) {
        if (g.key === 'adfs-saml' && name === 'Name ID') continue;
        const wire = g.key === 'adfs-saml' ? adfsWire[name] : name;
        assert.ok(wire, `${g.key}: no wire name for ${name}`);
        attributes[wire] = `value of ${name}`;
      }
      if (g.key === 'adfs-saml') {
        assert.ok(
          attributeNames(g).includes('Name ID'),
          'AD FS must send a name ID: the profile needs an ID',
        );
        nameId = 'upn-value';
      }
      const profile = mapSamlProfile({
        connectionType: g.connectionType,
        nameId,
        nameIdFormat: null,
        attributes,
        attributeMap: {},
      });
      assert.ok(profile.idpId, g.key);
      assert.ok(profile.email?.startsWith('value of '), `${g.key}: email ${profile.email}`);
      assert.ok(profile.firstName?.startsWith('value of '), `${g.key}: first name ${profile.firstName}`);
      assert.ok(profile.lastName?.startsWith('value of '), `${g.key}: last name ${profile.lastName}`);
      assert.equal(profile.groups.length, 1, `${g.key}: groups`);
      const fields = [profile.email, profile.firstName, profile.lastName, profile.groups[0]];
      assert.equal(new Set(fields).size, 4, `${g.key}: two fields read the same attribute`);
    }
  });

  it("Entra SAML: Entra's default claims fill the profile, and the UPN claim stands in for a missing mail", () => {
    const claims = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims';
    const guide = guideByKey('entra-saml') as IdpGuide;
    for (const suffix of ['emailaddress', 'givenname', 'surname', 'name'])
      assert.ok(attributeNames(guide).includes(`${claims}/${suffix}`), suffix);
    const profile = mapSamlProfile({
      connectionType: 'AzureSAML',
      nameId: 'ada@contoso.com',
      nameIdFormat: null,
      attributes: { [`${claims}/name`]: 'ada@contoso.com', [`${claims}/givenname`]: 'Ada' },
      attributeMap: {},
    });
    assert.equal(profile.email, 'ada@contoso.com');
  });

  it('the claims each OIDC guide asks for fill the profile', () => {
    for (const g of GUIDES.filter((x) => x.protocol === 'oidc')) {
      const names = attributeNames(g);
      if (names.length === 0) continue;
      const claims = Object.fromEntries(
        names.map((n) => [n, n === 'groups' ? ['g1'] : n === 'email' ? 'ada@example.com' : `value of ${n}`]),
      );
      const identity = identityFromClaims({ sub: 's', ...claims }, {});
      assert.equal(identity.email, 'ada@example.com', g.key);
      assert.ok(identity.firstName && identity.lastName, g.key);
      assert.deepEqual(identity.groups, names.includes('groups') ? ['g1'] : [], g.key);
    }
  });

  it('acsUrlRegex matches the ACS URL and nothing else (dots escaped: a look-alike host does not match)', () => {
    const acs = 'https://auth.example.com/sso/saml/acs/conn_01J?x';
    const re = new RegExp(acsUrlRegex(acs));
    assert.ok(re.test(acs));
    for (const other of [
      `${acs}/more`,
      `https://evil.test/${acs}`,
      'https://authXexample.com/sso/saml/acs/conn_01J?x',
      'https://auth.example.com/sso/saml/acs/conn_01',
    ])
      assert.ok(!re.test(other), other);
    assert.equal(
      acsUrlRegex('https://auth.example.com/sso/saml/acs/abc'),
      '^https:\\/\\/auth\\.example\\.com\\/sso\\/saml\\/acs\\/abc$',
    );
  });
});
