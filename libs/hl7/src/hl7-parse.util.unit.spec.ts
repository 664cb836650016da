import { randomBytes } from 'node:crypto';

import { describe, expect, it } from '@jest/globals';

import { isAppError } from '@lifeline/errors';

import { escapeHl7, unescapeHl7, DEFAULT_ENCODING } from './hl7-escape.util.js';
import { parseMsh } from './hl7-msh.util.js';
import { parseHl7 } from './hl7-parse.util.js';

const MSH = 'MSH|^~\\&|SND|SFAC|RCV|RFAC|20240102030405||ORM^O01|CTRL1|P|2.5.1';
const PID = 'PID|1||12345^^^HOSP&1.2.3&ISO^MR~999^^^SSA^SS||DOE^JOHN';

describe('parseHl7', () => {
  it.each([
    ['CR', '\r'],
    ['LF', '\n'],
    ['CRLF', '\r\n'],
  ])('splits segments on %s and ignores trailing blank lines', (_name, sep) => {
    const msg = parseHl7([MSH, PID, 'OBR|1', '', ''].join(sep));
    expect(msg.segments.map((s) => s.name)).toEqual(['MSH', 'PID', 'OBR']);
  });

  it('accepts a UTF-8 BOM as text and as bytes', () => {
    expect(parseHl7(`\uFEFF${MSH}`).get('MSH')?.value(10)).toBe('CTRL1');
    const bytes = Buffer.concat([
      Buffer.of(0xef, 0xbb, 0xbf),
      Buffer.from(`${MSH}\r${PID}`),
    ]);
    expect(parseHl7(bytes).field('PID', 3)).toBe('12345');
  });

  it('numbers MSH fields from the field separator (MSH-1) and other segments from 1', () => {
    const msg = parseHl7(`${MSH}\r${PID}`);
    expect(msg.field('MSH', 1)).toBe('|');
    expect(msg.field('MSH', 2)).toBe('^~\\&');
    expect(msg.field('MSH', 3)).toBe('SND');
    expect(msg.field('MSH', 9, 1, 2)).toBe('O01');
    expect(msg.field('MSH', 10)).toBe('CTRL1');
    expect(msg.field('MSH', 12)).toBe('2.5.1');
    expect(msg.field('PID', 1)).toBe('1');
    expect(msg.field('PID', 3)).toBe('12345');
  });

  it('reads repetitions, components and subcomponents (1-based)', () => {
    const msg = parseHl7(`${MSH}\r${PID}`);
    const pid = msg.get('PID');
    expect(pid?.repetitionCount(3)).toBe(2);
    expect(msg.field('PID', 3, 1, 4, 1)).toBe('HOSP');
    expect(msg.field('PID', 3, 1, 4, 2)).toBe('1.2.3');
    expect(msg.field('PID', 3, 2, 1)).toBe('999');
    expect(msg.field('PID', 3, 3, 1)).toBe('');
    expect(msg.field('PID', 99)).toBe('');
    expect(msg.field('ZZZ', 1)).toBe('');
    expect(pid?.raw(3)).toBe('12345^^^HOSP&1.2.3&ISO^MR~999^^^SSA^SS');
  });

  it('uses the delimiters declared in MSH-1/MSH-2', () => {
    const msg = parseHl7('MSH#*@!$#SND##R#F#T##A*B#C1#P#2.4\rPID#1##X*Y@Z$W');
    expect(msg.encoding).toEqual({
      field: '#',
      component: '*',
      repetition: '@',
      escape: '!',
      subcomponent: '$',
    });
    expect(msg.field('MSH', 9, 1, 2)).toBe('B');
    expect(msg.field('PID', 3, 1, 2)).toBe('Y');
    expect(msg.field('PID', 3, 2, 1, 2)).toBe('W');
  });

  it('unescapes \\F\\ \\S\\ \\T\\ \\R\\ \\E\\ and hex, keeps unknown sequences', () => {
    const msg = parseHl7(
      `${MSH}\rNTE|1||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\X41\\g\\Q\\h`,
    );
    expect(msg.field('NTE', 3)).toBe('a|b^c&d~e\\fAg\\Q\\h');
  });

  it('escapes and unescapes symmetrically', () => {
    const value = 'x|y^z&w~v\\u';
    expect(unescapeHl7(escapeHl7(value), DEFAULT_ENCODING)).toBe(value);
    expect(escapeHl7('a\rb')).toBe('a b');
  });

  it('indexes hostile segment names in a Map', () => {
    const msg = parseHl7(`${MSH}\r__proto__|x\rconstructor|y\rtoString|z`);
    expect(msg.get('__proto__')?.value(1)).toBe('x');
    expect(msg.getAll('constructor')).toHaveLength(1);
    expect(msg.get('hasOwnProperty')).toBeUndefined();
  });

  it.each([
    ['empty input', ''],
    ['no MSH first', `${PID}\r${MSH}`],
    ['alphanumeric MSH-1', 'MSHA^~\\&A'],
    ['short MSH-2', 'MSH|^~|A'],
    ['repeated encoding character', 'MSH|^^\\&|A'],
  ])('throws HL7_MSH_INVALID for %s', (_name, text) => {
    expect(() => parseHl7(text)).toThrow(
      expect.objectContaining({ code: 'HL7_MSH_INVALID', retryable: false }),
    );
  });

  it('parseHl7 and parseMsh throw nothing but AppError on random bytes (fuzz)', () => {
    const seeds = [Buffer.from(`${MSH}\r${PID}`), Buffer.from('MSH|^~\\&|')];
    for (let i = 0; i < 2_000; i += 1) {
      const noise = randomBytes(i % 200);
      const seed = seeds[i % seeds.length] ?? Buffer.alloc(0);
      const input =
        i % 3 === 0
          ? noise
          : Buffer.concat([seed.subarray(0, i % seed.length), noise]);
      try {
        parseMsh(input);
      } catch (err) {
        expect(isAppError(err, 'HL7_MSH_INVALID')).toBe(true);
      }
      try {
        const msg = parseHl7(input);
        for (const seg of msg.segments) {
          for (let f = 0; f <= seg.fieldCount + 1; f += 1)
            seg.value(f, 1, 2, 1);
        }
      } catch (err) {
        expect(isAppError(err, 'HL7_MSH_INVALID')).toBe(true);
      }
    }
  });
});
