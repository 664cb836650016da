import { describe, expect, it } from '@jest/globals';

import { formatHl7DateTime, hl7DateTimeToIso } from './hl7-datetime.util.js';

describe('hl7DateTimeToIso', () => {
  it.each([
    ['2014', '2014'],
    ['201410', '2014-10'],
    ['20141006', '2014-10-06'],
    ['2014100609', '2014-10-06T09:00:00'],
    ['201410060929', '2014-10-06T09:29:00'],
    ['20141006092959', '2014-10-06T09:29:59'],
    ['20141006092959.1', '2014-10-06T09:29:59.100'],
    ['20141006092959.1234', '2014-10-06T09:29:59.123'],
    ['202110201126+0215', '2021-10-20T11:26:00+02:15'],
    ['20160308180405-0500', '2016-03-08T18:04:05-05:00'],
    ['20240229', '2024-02-29'],
    [' 20141006 ', '2014-10-06'],
  ])('%s → %s', (input, iso) => {
    expect(hl7DateTimeToIso(input)).toBe(iso);
  });

  it.each([
    '',
    'abc',
    '2014-10-06',
    '20141306',
    '20230229',
    '2010201200+0215',
    '201410062500',
    '20141006+2500',
  ])('rejects %p', (input) => {
    expect(hl7DateTimeToIso(input)).toBeUndefined();
  });
});

describe('formatHl7DateTime', () => {
  it('formats yyyyMMddHHmmss in UTC', () => {
    expect(formatHl7DateTime(new Date('2024-01-02T03:04:05.678Z'))).toBe(
      '20240102030405',
    );
  });
});
