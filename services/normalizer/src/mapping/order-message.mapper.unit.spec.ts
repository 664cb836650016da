import { describe, expect, it } from '@jest/globals';

import { parseHl7 } from '@lifeline/hl7';

import type { MappedEvent, MappingOutcome } from './hl7-mapping.util.js';
import { mapHl7Message } from './hl7-message.mapper.js';

const CTX = {
  sourceMessageId: 'ingest-1',
  patientKeySecret: 'unit-secret-0123456789',
};
const msh = (type: string, id = 'C1', version = '2.5.1'): string =>
  `MSH|^~\\&|OE|HOSP|LIS|LAB|20240101120000||${type}|${id}|P|${version}`;
const PID = 'PID|1||MRN123^^^HOSP&1.2.3&ISO^MR||DOE^JANE';
const ORC_NW = 'ORC|NW|P100^OE|F200^LIS||||||20240101115500+0100|||D42^HOUSE';
const OBR = 'OBR|1|P100^OE|F200^LIS|2345-7^Glucose^LN||20240101110000';

function map(segments: string[], sep = '\r', type = 'ORM^O01'): MappingOutcome {
  return mapHl7Message(parseHl7([msh(type), ...segments].join(sep)), CTX);
}

function events(outcome: MappingOutcome): MappedEvent[] {
  if (outcome.kind !== 'events') throw new Error(`refused: ${outcome.reason}`);
  return outcome.events;
}

describe('order messages', () => {
  it('maps ORC-1 NW to clinical.order.placed.v1 with all fields', () => {
    const [event, ...rest] = events(map([PID, ORC_NW, OBR]));
    expect(rest).toHaveLength(0);
    expect(event).toMatchObject({
      type: 'clinical.order.placed.v1',
      priority: 'routine',
      idempotencyKey: 'OE|OE:P100|clinical.order.placed.v1',
      data: {
        orderId: 'OE:P100',
        placerOrderNumber: 'P100',
        placerNamespace: 'OE',
        fillerOrderNumber: 'F200',
        sourceSystem: 'OE^HOSP',
        sourceMessageId: 'ingest-1',
        messageType: 'ORM^O01',
        patient: { identifier: 'MRN123', assigningAuthority: 'HOSP' },
        tests: [{ code: '2345-7', text: 'Glucose', system: 'LN' }],
        priority: 'routine',
        orderedAt: '2024-01-01T11:55:00+01:00',
        orderingProviderId: 'D42',
      },
    });
  });

  it('maps ORC-1 CA to clinical.order.cancel-requested.v1 with the same orderId', () => {
    const cancel = 'ORC|CA|P100^OE|F200^LIS|||||||||||||^Patient request^L';
    const [event] = events(map([PID, cancel, OBR]));
    expect(event).toMatchObject({
      type: 'clinical.order.cancel-requested.v1',
      idempotencyKey: 'OE|OE:P100|clinical.order.cancel-requested.v1',
      data: {
        orderId: 'OE:P100',
        placerOrderNumber: 'P100',
        reason: 'Patient request',
      },
    });
    // A cancel needs no OBR.
    expect(events(map([PID, 'ORC|CA|P100^OE']))[0]?.type).toBe(
      'clinical.order.cancel-requested.v1',
    );
  });

  it('reads an empty ORC-1, or an OBR without ORC, as a new order', () => {
    expect(events(map([PID, 'ORC||P100^OE', OBR]))[0]?.type).toBe(
      'clinical.order.placed.v1',
    );
    expect(events(map([PID, OBR]))[0]?.data.orderId).toBe('OE:P100');
  });

  it.each(['XO', 'SC', 'DC', 'OC'])('refuses order control %s', (control) => {
    expect(map([PID, `ORC|${control}|P100^OE`, OBR])).toMatchObject({
      kind: 'refused',
      code: 'HL7_UNSUPPORTED_ORDER_CONTROL',
      field: 'ORC-1',
    });
  });

  it.each([
    ['ORC-7.6 (TQ priority)', ['ORC|NW|P100^OE|||||^^^^^S', OBR]],
    ['TQ1-9', [ORC_NW, 'TQ1|1||||||||S^Stat^HL70485', OBR]],
    ['OBR-5', [ORC_NW, 'OBR|1|P100^OE||2345-7^Glucose^LN|S']],
    [
      'OBR-27.6',
      [ORC_NW, `OBR|1|P100^OE||2345-7^Glucose^LN${'|'.repeat(23)}^^^^^S`],
    ],
  ])('detects stat from %s', (_where, segs) => {
    const [event] = events(map([PID, ...segs]));
    expect(event?.priority).toBe('stat');
    expect(event?.data).toMatchObject({ priority: 'stat' });
  });

  it('detects stat in a v2.3 ORC-7 TQ and stays routine for R / A', () => {
    const v23 = [
      msh('ORM^O01', 'C1', '2.3'),
      PID,
      'ORC|NW|P100|||||1^ONCE^^^^S',
      OBR,
    ].join('\r');
    expect(events(mapHl7Message(parseHl7(v23), CTX))[0]?.priority).toBe('stat');
    expect(
      events(map([PID, 'ORC|NW|P100^OE|||||^^^^^R', 'TQ1|1||||||||A', OBR]))[0]
        ?.priority,
    ).toBe('routine');
  });

  it('maps the same message with CR, LF and CRLF identically', () => {
    const segs = [PID, ORC_NW, OBR];
    const cr = map(segs, '\r');
    expect(map(segs, '\n')).toEqual(cr);
    expect(map(segs, '\r\n')).toEqual(cr);
  });

  it('gives a resent order (new MSH-10, new ingest id) the same idempotency key', () => {
    const first = events(map([PID, ORC_NW, OBR]))[0];
    const resend = mapHl7Message(
      parseHl7([msh('ORM^O01', 'C2'), PID, ORC_NW, OBR].join('\r')),
      {
        ...CTX,
        sourceMessageId: 'ingest-2',
      },
    );
    expect(events(resend)[0]?.idempotencyKey).toBe(first?.idempotencyKey);
  });

  it('maps each ORC group of an OML^O21 to one order with its OBRs as tests', () => {
    const segs = [
      PID,
      ORC_NW,
      OBR,
      'OBR|2|P100^OE||718-7^Hemoglobin^LN',
      'ORC|NW|P101^OE',
      'OBR|1|||6690-2^WBC^LN',
    ];
    const out = events(map(segs, '\r', 'OML^O21'));
    expect(
      out.map((e) => [
        e.data.orderId,
        'tests' in e.data ? e.data.tests.length : 0,
      ]),
    ).toEqual([
      ['OE:P100', 2],
      ['OE:P101', 1],
    ]);
    expect(out[0]?.data).toMatchObject({ messageType: 'OML^O21' });
  });

  it('falls back to OBR-2 for the placer and uses UNSPECIFIED without a namespace', () => {
    expect(events(map([PID, 'ORC|NW', OBR]))[0]?.data.orderId).toBe('OE:P100');
    expect(events(map([PID, 'ORC|NW|P7', 'OBR|1|||2345-7']))[0]).toMatchObject({
      idempotencyKey: 'OE^HOSP|UNSPECIFIED:P7|clinical.order.placed.v1',
      data: { orderId: 'UNSPECIFIED:P7' },
    });
  });

  it.each([
    ['PID-3', [ORC_NW, OBR], 'HL7_REQUIRED_FIELD_MISSING'],
    ['PID-3', ['PID|1||^^^HOSP', ORC_NW, OBR], 'HL7_REQUIRED_FIELD_MISSING'],
    [
      'ORC-2/OBR-2',
      [PID, 'ORC|NW', 'OBR|1|||2345-7'],
      'HL7_REQUIRED_FIELD_MISSING',
    ],
    ['OBR-4', [PID, ORC_NW, 'OBR|1|P100^OE'], 'HL7_REQUIRED_FIELD_MISSING'],
    ['OBR-4', [PID, ORC_NW], 'HL7_REQUIRED_FIELD_MISSING'],
    ['ORC/OBR', [PID], 'HL7_NO_ORDER_GROUP'],
  ])('refuses with field %s', (field, segs, code) => {
    const outcome = map(segs);
    expect(outcome).toMatchObject({ kind: 'refused', code, field });
    // The reason names positions, never values.
    expect(JSON.stringify(outcome)).not.toMatch(/MRN123|DOE|JANE/);
  });

  it('turns a payload that fails its schema into HL7_CANONICAL_INVALID', () => {
    const msg = parseHl7([msh('ORM^O01'), PID, ORC_NW, OBR].join('\r'));
    const outcome = mapHl7Message(msg, { ...CTX, sourceMessageId: '' });
    expect(outcome).toMatchObject({
      kind: 'refused',
      code: 'HL7_CANONICAL_INVALID',
      reason: expect.stringContaining('sourceMessageId'),
    });
  });

  it('refuses the whole message when one group is bad', () => {
    expect(map([PID, ORC_NW, OBR, 'ORC|XO|P101^OE', OBR])).toMatchObject({
      kind: 'refused',
      code: 'HL7_UNSUPPORTED_ORDER_CONTROL',
    });
  });

  it('unescapes values and uses the alternate code when OBR-4.1 is empty', () => {
    const [event] = events(
      map([PID, ORC_NW, 'OBR|1|P100^OE||^^^LOC1^Na \\T\\ K^99LOC']),
    );
    expect(event?.data).toMatchObject({
      tests: [{ code: 'LOC1', text: 'Na & K', system: '99LOC' }],
    });
  });
});
