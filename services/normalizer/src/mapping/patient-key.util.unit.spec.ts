import { describe, expect, it } from '@jest/globals';

import { isAppError } from '@lifeline/errors';

import { patientKey } from './patient-key.util.js';

const SECRET = 'unit-secret-0123456789';

describe('patientKey', () => {
  it('is a stable 32-hex-char keyed hash that does not contain the identifier', () => {
    const key = patientKey({
      secret: SECRET,
      identifier: '10006579',
      assigningAuthority: 'HOSP',
    });
    expect(key).toMatch(/^[0-9a-f]{32}$/);
    expect(
      patientKey({
        secret: SECRET,
        identifier: '10006579',
        assigningAuthority: 'HOSP',
      }),
    ).toBe(key);
    expect(key).not.toContain('10006579');
  });

  it('depends on the assigning authority and the secret', () => {
    const base = patientKey({
      secret: SECRET,
      identifier: '1',
      assigningAuthority: 'A',
    });
    expect(
      patientKey({ secret: SECRET, identifier: '1', assigningAuthority: 'B' }),
    ).not.toBe(base);
    expect(patientKey({ secret: SECRET, identifier: '1' })).not.toBe(base);
    expect(
      patientKey({
        secret: `${SECRET}x`,
        identifier: '1',
        assigningAuthority: 'A',
      }),
    ).not.toBe(base);
  });

  it('refuses a short secret (a configuration error, not a message error)', () => {
    let caught: unknown;
    try {
      patientKey({ secret: 'short', identifier: '1' });
    } catch (err) {
      caught = err;
    }
    expect(isAppError(caught, 'PATIENT_KEY_SECRET_INVALID')).toBe(true);
  });
});
