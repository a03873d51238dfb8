import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { verifiedMicrosoftEmail } from '../../src/connectors/providers/microsoft.ts';

/**
 * Which email a Microsoft sign-in may put in the profile. Entra ID does not verify the `email` claim: a tenant
 * administrator can set any address on a user ("nOAuth"), so trusting it would let an attacker's tenant sign in
 * as anyone@victim.com, and join the victim's organization through its verified domain.
 */

const TENANT = 'aaaaaaaa-1111-2222-3333-444444444444';
const ISS = `https://login.microsoftonline.com/${TENANT}/v2.0`;
const CONSUMERS = '9188040d-6c67-4c5b-b112-36a304b66dad';

describe('verifiedMicrosoftEmail', () => {
  it('nOAuth: an email that differs from the UPN and is not marked verified is not trusted; the UPN is', () => {
    assert.equal(
      verifiedMicrosoftEmail({
        iss: ISS,
        tid: TENANT,
        email: 'ceo@victim.com',
        preferred_username: 'mallory@attacker.onmicrosoft.com',
      }),
      'mallory@attacker.onmicrosoft.com',
    );
  });

  it('takes the email when it is the UPN, or when Microsoft marks its domain verified (xms_edov)', () => {
    assert.equal(
      verifiedMicrosoftEmail({
        iss: ISS,
        tid: TENANT,
        email: 'Ada@Contoso.com',
        preferred_username: 'ada@contoso.com',
      }),
      'Ada@Contoso.com',
    );
    for (const edov of [true, 1, '1']) {
      assert.equal(
        verifiedMicrosoftEmail({
          iss: ISS,
          tid: TENANT,
          email: 'ada@contoso.com',
          preferred_username: 'ada@contoso.onmicrosoft.com',
          xms_edov: edov,
        }),
        'ada@contoso.com',
      );
    }
    assert.equal(
      verifiedMicrosoftEmail({
        iss: ISS,
        tid: TENANT,
        email: 'ada@contoso.com',
        preferred_username: 'ada@contoso.onmicrosoft.com',
        xms_edov: false,
      }),
      'ada@contoso.onmicrosoft.com',
    );
  });

  it('personal Microsoft accounts: the email Microsoft verified at sign-up', () => {
    assert.equal(
      verifiedMicrosoftEmail({
        iss: ISS,
        tid: CONSUMERS,
        email: 'ada@outlook.com',
        preferred_username: 'ada@outlook.com',
      }),
      'ada@outlook.com',
    );
  });

  it('guest users (an idp claim): neither their UPN nor an unmarked email is trusted', () => {
    assert.equal(
      verifiedMicrosoftEmail({
        iss: ISS,
        tid: TENANT,
        idp: 'https://sts.windows.net/bbbbbbbb-1111-2222-3333-444444444444/',
        email: 'guest@elsewhere.com',
        preferred_username: 'guest@elsewhere.com',
      }),
      null,
    );
    assert.equal(
      verifiedMicrosoftEmail({
        iss: ISS,
        tid: TENANT,
        idp: 'live.com',
        email: 'guest@elsewhere.com',
        preferred_username: 'guest@elsewhere.com',
        xms_edov: true,
      }),
      'guest@elsewhere.com',
    );
  });

  it('an #EXT# UPN or a UPN that is not an address gives no email', () => {
    assert.equal(
      verifiedMicrosoftEmail({
        iss: ISS,
        tid: TENANT,
        preferred_username: 'ada_contoso.com#EXT#@fabrikam.onmicrosoft.com',
      }),
      null,
    );
    assert.equal(verifiedMicrosoftEmail({ iss: ISS, tid: TENANT, preferred_username: '+15551234567' }), null);
    assert.equal(verifiedMicrosoftEmail({ iss: ISS, tid: TENANT }), null);
  });
});
