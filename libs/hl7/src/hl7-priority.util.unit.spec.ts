import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';

import { describe, expect, it } from '@jest/globals';

import { parseHl7 } from './hl7-parse.util.js';
import {
  classifyHl7Priority,
  isCriticalFlag,
  observationsPriority,
  orderSegmentsPriority,
} from './hl7-priority.util.js';

const CORPUS = new URL('../../../../shared/corpora/hl7v2/', import.meta.url);
const FILES = readdirSync(CORPUS)
  .filter((f) => f.endsWith('.hl7'))
  .sort();

// Read from the files: stat pharmacy orders (TQ1-9 = S in one of their timing repetitions). No
// corpus file carries a critical OBX-8 or an S in ORC-7.6 / OBR-5 / OBR-27.6.
const STAT_FILES = [
  'RDE-O11-01.hl7',
  'RDE-O11-02.hl7',
  'RDE-O25-01.hl7',
  'RDE-O25-02.hl7',
  'RDS-O13-02.hl7',
];

const MSH = 'MSH|^~\\&|EHR|HOSP|LIFELINE|HOSP|20240101100000||ORM^O01|C1|P|2.5';
const ORU_MSH = MSH.replace('ORM^O01', 'ORU^R01');
const PID = 'PID|1||MRN1^^^HOSP^MR||CANARY^TEST';
const ORC = 'ORC|NW|P100^OE';
const OBR = 'OBR|1|P100^OE||2345-7^Glucose^LN';
const obx = (flags: string): string =>
  `OBX|1|NM|2823-3^Potassium^LN||6.9|mmol/L|3.5-5.1|${flags}|||F`;

const message = (...segments: string[]): string => segments.join('\r');

describe('classifyHl7Priority', () => {
  it.each([
    ['ORC-7.6 (TQ priority)', [MSH, PID, 'ORC|NW|P100^OE|||||^^^^^S', OBR]],
    ['ORC-7.6 in a v2.3 TQ', [MSH, PID, 'ORC|NW|P100|||||1^ONCE^^^^s', OBR]],
    ['TQ1-9', [MSH, PID, ORC, 'TQ1|1||||||||S^Stat^HL70485', OBR]],
    ['OBR-5', [MSH, PID, ORC, 'OBR|1|P100^OE||2345-7^Glucose^LN|S']],
    ['OBR-27.6', [MSH, PID, ORC, `${OBR}${'|'.repeat(23)}^^^^^S`]],
    [
      'the second order group',
      [MSH, PID, ORC, OBR, 'ORC|NW|P200^OE', 'TQ1|1||||||||S', OBR],
    ],
    ['OBX-8 HH', [ORU_MSH, PID, ORC, OBR, obx('HH')]],
    ['OBX-8 LL', [ORU_MSH, PID, ORC, OBR, obx('LL')]],
    [
      'OBX-8 AA in a later repetition',
      [ORU_MSH, PID, ORC, OBR, obx('L'), obx('H~aa')],
    ],
  ])('is stat from %s', (_where, segments) => {
    expect(classifyHl7Priority(message(...segments))).toBe('stat');
  });

  it.each([
    ['no priority at all', [MSH, PID, ORC, OBR]],
    [
      'R / A priorities',
      [
        MSH,
        PID,
        'ORC|NW|P100^OE|||||^^^^^R',
        'TQ1|1||||||||A',
        'OBR|1|P100^OE||G|R',
      ],
    ],
    [
      'S outside the priority component',
      [MSH, PID, 'ORC|NW|P100^OE|||||^^^^S', 'TQ1|1|||||||S', OBR],
    ],
    [
      'abnormal but not critical flags',
      [ORU_MSH, PID, ORC, OBR, obx('H'), obx('L~A'), obx('>'), obx('<')],
    ],
    [
      'a critical flag outside OBX-8',
      [ORU_MSH, PID, ORC, OBR, 'OBX|1|ST|X^Y^L||HH|||N|||F'],
    ],
  ])('is routine with %s', (_where, segments) => {
    expect(classifyHl7Priority(message(...segments))).toBe('routine');
  });

  it('reads the delimiters from MSH-1/MSH-2, CR/LF/CRLF, bytes and parsed messages alike', () => {
    const stat = [MSH, PID, ORC, 'TQ1|1||||||||S', OBR];
    for (const sep of ['\r', '\n', '\r\n']) {
      expect(classifyHl7Priority(stat.join(sep))).toBe('stat');
    }
    expect(classifyHl7Priority(Buffer.from(stat.join('\r')))).toBe('stat');
    expect(classifyHl7Priority(parseHl7(stat.join('\r')))).toBe('stat');
    const hashDelimited = stat.join('\r').replace(/\|/g, '#');
    expect(classifyHl7Priority(hashDelimited)).toBe('stat');
  });

  it('never throws: anything unreadable is routine', () => {
    const garbage = [
      '',
      '\r\n',
      'not hl7 at all',
      'PID|1||X\rOBX|1|NM|X||1|||HH',
      'MSH',
      'MSH|',
      'MSHA^~\\&|X',
      `MSH|^~\\&|X\rOBX${'|'.repeat(7)}HH\\`,
      `MSH|^~\\&|X\rORC|NW|${'^'.repeat(10_000)}S`,
      '\uFEFF\u0000\u0001',
    ];
    for (const text of garbage) {
      expect(() => classifyHl7Priority(text)).not.toThrow();
    }
    expect(classifyHl7Priority('PID|1||X\rOBX|1|NM|X||1|||HH')).toBe('routine');
    for (let i = 0; i < 200; i += 1) {
      const bytes = randomBytes(1 + (i % 64) * 16);
      expect(['routine', 'stat']).toContain(classifyHl7Priority(bytes));
      expect(['routine', 'stat']).toContain(
        classifyHl7Priority(Buffer.concat([Buffer.from('MSH|^~\\&|'), bytes])),
      );
    }
  });

  it('classifies every corpus file without throwing; exactly the known stat files are stat', () => {
    const stat: string[] = [];
    for (const file of FILES) {
      const bytes = readFileSync(new URL(file, CORPUS));
      const priority = classifyHl7Priority(bytes);
      expect(classifyHl7Priority(bytes.toString('utf8'))).toBe(priority);
      if (priority === 'stat') stat.push(file);
    }
    expect(FILES.length).toBeGreaterThan(100);
    expect(stat).toEqual(STAT_FILES);
  });
});

describe('orderSegmentsPriority and observationsPriority (the mappers’ granularity)', () => {
  const seg = (text: string) => {
    const found = parseHl7(message(MSH, text)).segments[1];
    if (found === undefined) throw new Error('test segment missing');
    return found;
  };

  it('reads one order group only', () => {
    const orc = seg('ORC|NW|P100^OE|||||^^^^^S');
    expect(orderSegmentsPriority({ orc, obrs: [seg(OBR)], tq1s: [] })).toBe(
      'stat',
    );
    expect(
      orderSegmentsPriority({
        obrs: [seg(OBR)],
        tq1s: [seg('TQ1|1||||||||S')],
      }),
    ).toBe('stat');
    expect(
      orderSegmentsPriority({ orc: seg(ORC), obrs: [seg(OBR)], tq1s: [] }),
    ).toBe('routine');
  });

  it('reads every repetition of OBX-8 of the given observations', () => {
    expect(observationsPriority([seg(obx('H')), seg(obx('N~LL'))])).toBe(
      'stat',
    );
    expect(observationsPriority([seg(obx('H')), seg(obx('A'))])).toBe(
      'routine',
    );
    expect(observationsPriority([])).toBe('routine');
  });

  it.each([
    ['HH', true],
    [' ll ', true],
    ['Aa', true],
    ['H', false],
    ['A', false],
    ['', false],
  ])('isCriticalFlag(%p) is %p', (flag, critical) => {
    expect(isCriticalFlag(flag)).toBe(critical);
  });
});
