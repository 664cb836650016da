import { describe, expect, it } from '@jest/globals';

import type { Observation } from '@lifeline/contracts';

import {
  DEFAULT_CRITICAL_RULES,
  flagCritical,
  type CriticalRule,
} from './critical-flag.util.js';

function obs(
  code: string,
  fields: Partial<Omit<Observation, 'code'>> = {},
): Observation {
  return { code: { code }, abnormalFlags: [], ...fields };
}

describe('flagCritical', () => {
  describe('abnormal flags (OBX-8)', () => {
    it.each(['HH', 'LL', 'AA', 'hh', ' ll ', 'Aa'])(
      'treats %p as critical',
      (flag) => {
        expect(
          flagCritical([obs('1234-5', { abnormalFlags: [flag] })]),
        ).toEqual({ critical: true, criticalCodes: ['1234-5'] });
      },
    );

    it.each(['H', 'L', 'A', 'N', ''])(
      'treats %p alone as not critical',
      (flag) => {
        expect(
          flagCritical([obs('1234-5', { abnormalFlags: [flag] })]),
        ).toEqual({ critical: false, criticalCodes: [] });
      },
    );

    it('finds a critical flag among several repetitions', () => {
      expect(
        flagCritical([obs('1234-5', { abnormalFlags: ['H', 'HH'] })]).critical,
      ).toBe(true);
    });
  });

  describe('critical limits per code', () => {
    it.each([
      [
        'potassium low (LOINC)',
        obs('2823-3', { numericValue: 2.4, units: 'mmol/L' }),
      ],
      [
        'potassium high (local K)',
        obs('K', { numericValue: 6.6, units: 'mmol/L' }),
      ],
      ['potassium in mEq/L', obs('k', { numericValue: 7.1, units: 'meq/l' })],
      ['glucose low', obs('2345-7', { numericValue: 39, units: 'mg/dL' })],
      ['glucose high', obs('2345-7', { numericValue: 501, units: 'mg/dL' })],
      [
        'glucose high in mmol/L',
        obs('2345-7', { numericValue: 30, units: 'mmol/L' }),
      ],
      ['sodium low', obs('2951-2', { numericValue: 119, units: 'mmol/L' })],
      ['sodium high', obs('2951-2', { numericValue: 161, units: 'mmol/L' })],
      ['hemoglobin low', obs('718-7', { numericValue: 5.9, units: 'g/dL' })],
      [
        'hemoglobin low in g/L',
        obs('718-7', { numericValue: 55, units: 'g/L' }),
      ],
      [
        'potassium without units (conventional unit assumed)',
        obs('K', { numericValue: 1.9 }),
      ],
    ])('flags %s', (_label, o) => {
      expect(flagCritical([o])).toEqual({
        critical: true,
        criticalCodes: [o.code.code],
      });
    });

    it.each([
      [
        'potassium at the low limit',
        obs('2823-3', { numericValue: 2.5, units: 'mmol/L' }),
      ],
      [
        'potassium at the high limit',
        obs('K', { numericValue: 6.5, units: 'mmol/L' }),
      ],
      ['a normal potassium', obs('K', { numericValue: 4.1, units: 'mmol/L' })],
      [
        'glucose normal in mmol/L (would be "low" read as mg/dL)',
        obs('2345-7', { numericValue: 5.5, units: 'mmol/L' }),
      ],
      [
        'a high hemoglobin (no high limit)',
        obs('718-7', { numericValue: 25, units: 'g/dL' }),
      ],
      [
        'a unit without limits',
        obs('2345-7', { numericValue: 1, units: 'g/L' }),
      ],
      [
        'a code without limits',
        obs('9999-9', { numericValue: 100000, units: 'mmol/L' }),
      ],
      ['a non-numeric value', obs('K', { value: '<1.0', units: 'mmol/L' })],
      [
        'H on a value inside the limits',
        obs('K', { numericValue: 5.5, units: 'mmol/L', abnormalFlags: ['H'] }),
      ],
    ])('does not flag %s', (_label, o) => {
      expect(flagCritical([o])).toEqual({ critical: false, criticalCodes: [] });
    });
  });

  it('lists every critical code once, in observation order, and never a value', () => {
    const result = flagCritical([
      obs('2951-2', { numericValue: 140, units: 'mmol/L' }),
      obs('K', { numericValue: 7.2, units: 'mmol/L' }),
      obs('2345-7', {
        numericValue: 20,
        units: 'mg/dL',
        abnormalFlags: ['LL'],
      }),
      obs('K', { numericValue: 7.3, units: 'mmol/L' }),
    ]);
    expect(result).toEqual({ critical: true, criticalCodes: ['K', '2345-7'] });
    expect(JSON.stringify(result)).not.toMatch(/7\.2|20/);
  });

  it('is not critical for an empty result', () => {
    expect(flagCritical([])).toEqual({ critical: false, criticalCodes: [] });
  });

  it('uses the table it is given', () => {
    const rules: CriticalRule[] = [
      {
        analyte: 'lactate',
        codes: ['2524-7'],
        ranges: [{ units: ['mmol/L'], high: 4 }],
      },
    ];
    expect(
      flagCritical(
        [obs('2524-7', { numericValue: 4.5, units: 'mmol/L' })],
        rules,
      ).critical,
    ).toBe(true);
    expect(
      flagCritical([obs('K', { numericValue: 9, units: 'mmol/L' })], rules)
        .critical,
    ).toBe(false);
    expect(DEFAULT_CRITICAL_RULES.length).toBeGreaterThan(0);
  });
});
