import { describe, expect, it } from '@jest/globals';

import { acceptCode, ackModeFor, buildAck } from './hl7-ack.util.js';
import { parseMsh } from './hl7-msh.util.js';
import { parseHl7 } from './hl7-parse.util.js';

const NOW = new Date('2024-03-05T06:07:08.900Z');
const ORIGINAL = parseMsh(
  'MSH|^~\\&|LAB^1.2^ISO|LFAC|EHR|EFAC|2024||ORU^R01^ORU_R01|IN-1|P|2.5.1',
);
const ENHANCED = parseMsh(
  'MSH|^~\\&|LAB|LFAC|EHR|EFAC|2024||ORM^O01|IN-2|T|2.3|||AL|NE',
);

describe('buildAck', () => {
  it('swaps sender and receiver and echoes MSH-10 (original mode AA)', () => {
    const ack = buildAck({
      msh: ORIGINAL,
      code: 'AA',
      controlId: 'ACK-1',
      now: NOW,
    });
    expect(ack).toBe(
      'MSH|^~\\&|EHR|EFAC|LAB^1.2^ISO|LFAC|20240305060708||ACK^R01^ACK|ACK-1|P|2.5.1\rMSA|AA|IN-1',
    );
  });

  it('adds MSA-3 and a v2.5 ERR (location, code^text^HL70357, severity, diagnostic)', () => {
    const ack = buildAck({
      msh: ORIGINAL,
      code: 'AE',
      controlId: 'ACK-2',
      textMessage: 'store unavailable | retry',
      error: {
        hl7ErrorCode: '207',
        severity: 'E',
        location: 'MSH^1^10',
        diagnostic: 'db down',
      },
      now: NOW,
    });
    expect(ack.split('\r').slice(1)).toEqual([
      'MSA|AE|IN-1|store unavailable \\F\\ retry',
      'ERR||MSH^1^10|207^Application internal error^HL70357|E|||db down',
    ]);
    const parsed = parseHl7(ack);
    expect(parsed.field('MSA', 3)).toBe('store unavailable | retry');
    expect(parsed.field('ERR', 3, 1, 1)).toBe('207');
    expect(parsed.field('ERR', 4)).toBe('E');
    expect(parsed.field('ERR', 7)).toBe('db down');
  });

  it('uses the v2.3/2.4 ERR-1 layout and echoes MSH-11 (enhanced mode CR)', () => {
    const ack = buildAck({
      msh: ENHANCED,
      code: 'CR',
      controlId: 'ACK-3',
      error: { hl7ErrorCode: '101', severity: 'E', location: 'PID^1^3' },
      now: NOW,
    });
    expect(ack).toBe(
      'MSH|^~\\&|EHR|EFAC|LAB|LFAC|20240305060708||ACK^O01^ACK|ACK-3|T|2.3\rMSA|CR|IN-2\r' +
        'ERR|PID^1^3^101&Required field missing&HL70357',
    );
    const noLocation = buildAck({
      msh: ENHANCED,
      code: 'CE',
      controlId: 'A',
      error: { hl7ErrorCode: '207', severity: 'E' },
      now: NOW,
    });
    expect(noLocation.split('\r')[2]).toBe(
      'ERR|^^^207&Application internal error&HL70357',
    );
  });

  it('builds a generic ACK without an inbound header', () => {
    const ack = buildAck({
      msh: null,
      code: 'AR',
      controlId: 'ACK-4',
      now: NOW,
    });
    expect(ack).toBe(
      'MSH|^~\\&|||||20240305060708||ACK|ACK-4|P|2.5.1\rMSA|AR|',
    );
    expect(parseMsh(ack).controlId).toBe('ACK-4');
  });

  it('is deterministic for its input (stored ACKs replay byte for byte)', () => {
    const input = {
      msh: ORIGINAL,
      code: 'AA' as const,
      controlId: 'X',
      now: NOW,
    };
    expect(buildAck(input)).toBe(buildAck(input));
  });
});

describe('ackModeFor / acceptCode', () => {
  it('is enhanced when MSH-15 or MSH-16 is set', () => {
    expect(ackModeFor(ORIGINAL)).toBe('original');
    expect(ackModeFor(ENHANCED)).toBe('enhanced');
    expect(ackModeFor({ acceptAckType: '', applicationAckType: 'AL' })).toBe(
      'enhanced',
    );
    expect(ackModeFor({ acceptAckType: ' ', applicationAckType: '' })).toBe(
      'original',
    );
    expect(ackModeFor(null)).toBe('original');
  });

  it.each([
    ['original', 'accepted', 'AA'],
    ['original', 'store-unavailable', 'AE'],
    ['original', 'rejected', 'AR'],
    ['enhanced', 'accepted', 'CA'],
    ['enhanced', 'store-unavailable', 'CE'],
    ['enhanced', 'rejected', 'CR'],
  ] as const)('%s + %s → %s', (mode, outcome, code) => {
    expect(acceptCode(mode, outcome)).toBe(code);
  });
});
