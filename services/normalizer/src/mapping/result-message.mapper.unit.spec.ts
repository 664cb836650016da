import { describe, expect, it } from '@jest/globals';

import { parseHl7 } from '@lifeline/hl7';

import type {
  MappedEvent,
  MappingOutcome,
  ResultReceivedEvent,
} from './hl7-mapping.util.js';
import { mapHl7Message } from './hl7-message.mapper.js';

const CTX = {
  sourceMessageId: 'ingest-9',
  patientKeySecret: 'unit-secret-0123456789',
};
const MSH = 'MSH|^~\\&|LIS|LAB|OE|HOSP|20240101120000||ORU^R01|R1|P|2.5.1';
const PID = 'PID|1||MRN123^^^HOSP^MR||DOE^JANE';
const obr = (status: string, placer = 'P100^OE'): string =>
  `OBR|1|${placer}|F200^LIS|24331-1^Lipid panel^LN|||20240101100000+0100${'|'.repeat(18)}${status}`;
const K =
  'OBX|1|NM|2823-3^Potassium^LN||6.9|mmol/L^^UCUM|3.5-5.1|HH|||F|||20240101101500+0100';
const NA = 'OBX|2|NM|2951-2^Sodium^LN||140|mmol/L|135-145|N~|||F';

function map(segments: string[], sep = '\r'): MappingOutcome {
  return mapHl7Message(parseHl7([MSH, ...segments].join(sep)), CTX);
}

function results(outcome: MappingOutcome): ResultReceivedEvent[] {
  if (outcome.kind !== 'events') throw new Error(`refused: ${outcome.reason}`);
  return outcome.events.filter(
    (e: MappedEvent): e is ResultReceivedEvent =>
      e.type === 'clinical.result.received.v1',
  );
}

describe('result messages', () => {
  it('maps one OBR group with its observations, units, ranges and flags', () => {
    const [event, ...rest] = results(map([PID, obr('F'), K, NA]));
    expect(rest).toHaveLength(0);
    expect(event).toMatchObject({
      type: 'clinical.result.received.v1',
      priority: 'stat',
      data: {
        orderId: 'OE:P100',
        placerOrderNumber: 'P100',
        fillerOrderNumber: 'F200',
        sourceSystem: 'LIS^LAB',
        sourceMessageId: 'ingest-9',
        resultStatus: 'F',
        observedAt: '2024-01-01T10:00:00+01:00',
      },
    });
    expect(event?.data.observations).toEqual([
      {
        setId: '1',
        code: { code: '2823-3', text: 'Potassium', system: 'LN' },
        valueType: 'NM',
        value: '6.9',
        numericValue: 6.9,
        units: 'mmol/L',
        referenceRange: '3.5-5.1',
        abnormalFlags: ['HH'],
        status: 'F',
        observedAt: '2024-01-01T10:15:00+01:00',
      },
      {
        setId: '2',
        code: { code: '2951-2', text: 'Sodium', system: 'LN' },
        valueType: 'NM',
        value: '140',
        numericValue: 140,
        units: 'mmol/L',
        referenceRange: '135-145',
        abnormalFlags: ['N'],
        status: 'F',
      },
    ]);
  });

  it.each([
    ['HH', 'stat'],
    ['LL', 'stat'],
    ['AA', 'stat'],
    ['H~AA', 'stat'],
    ['H', 'routine'],
    ['L', 'routine'],
    ['>', 'routine'],
    ['<', 'routine'],
    ['A', 'routine'],
    ['', 'routine'],
  ])('OBX-8 %p → %s', (flags, priority) => {
    const obx = `OBX|1|NM|2823-3^Potassium^LN||5|mmol/L||${flags}|||F`;
    expect(results(map([PID, obr('F'), obx]))[0]?.priority).toBe(priority);
  });

  it('is stat when the LIS echoes the stat order priority on the OBR (OBR-5), critical or not', () => {
    const normalObx = 'OBX|1|NM|2823-3^Potassium^LN||4.1|mmol/L||N|||F';
    const statObr = `OBR|1|P100^OE|F200^LIS|2823-3^Potassium^LN|S||20240101100000+0100${'|'.repeat(18)}F`;
    expect(results(map([PID, statObr, normalObx]))[0]?.priority).toBe('stat');
    expect(results(map([PID, obr('F'), normalObx]))[0]?.priority).toBe('routine');
  });

  it('reads SN values and joins repetitions; only single plain numbers are numeric', () => {
    const obxs = [
      'OBX|1|SN|1^A^LN||^182|mg/dL',
      'OBX|2|SN|2^B^LN||>^100',
      'OBX|3|SN|3^C^LN||^1^-^5',
      'OBX|4|NM|4^D^LN||27~25',
      'OBX|5|ST|5^E^LN||see note \\F\\ attached',
      'OBX|6|NM|6^F^LN||abc',
    ];
    const obs =
      results(map([PID, obr('F'), ...obxs]))[0]?.data.observations ?? [];
    expect(obs.map((o) => [o.value, o.numericValue])).toEqual([
      ['^182', 182],
      ['>^100', undefined],
      ['^1^-^5', undefined],
      ['27~25', undefined],
      ['see note | attached', undefined],
      ['abc', undefined],
    ]);
  });

  it('gives a resend the same key and a correction (C) or changed value a new one', () => {
    const key = (segs: string[]): string | undefined =>
      results(map([PID, ...segs]))[0]?.idempotencyKey;
    const final = key([obr('F'), K]);
    expect(final).toMatch(
      /^OE\|OE:P100\|clinical\.result\.received\.v1\|F:[0-9a-f]{16}$/,
    );
    const resend = mapHl7Message(
      parseHl7([MSH.replace('|R1|', '|R2|'), PID, obr('F'), K].join('\n')),
      {
        ...CTX,
        sourceMessageId: 'ingest-10',
      },
    );
    expect(results(resend)[0]?.idempotencyKey).toBe(final);
    expect(key([obr('C'), K])).not.toBe(final);
    expect(key([obr('C'), K])).toMatch(/\|C:/);
    expect(key([obr('F'), K.replace('|6.9|', '|7.0|')])).not.toBe(final);
  });

  it('maps CR, LF and CRLF messages identically', () => {
    const segs = [PID, obr('F'), K, NA];
    const cr = map(segs, '\r');
    expect(map(segs, '\n')).toEqual(cr);
    expect(map(segs, '\r\n')).toEqual(cr);
  });

  it('defaults an empty OBR-25 to F and falls back to ORC-2 for the placer', () => {
    const [event] = results(map([PID, 'ORC|RE|P300^OE', obr('', ''), K]));
    expect(event?.data).toMatchObject({
      resultStatus: 'F',
      orderId: 'OE:P300',
    });
  });

  it('keeps specimen OBXs (after SPM) out and skips OBRs without results', () => {
    const segs = [
      PID,
      obr('F'),
      K,
      'SPM|1|S1||BLD',
      'OBX|9|NM|9^Temp^L||4',
      obr('X', 'P101^OE'),
      obr('F', 'P102^OE'),
      NA,
    ];
    const out = results(map(segs));
    expect(
      out.map((e) => [e.data.orderId, e.data.observations.map((o) => o.setId)]),
    ).toEqual([
      ['OE:P100', ['1']],
      ['OE:P102', ['2']],
    ]);
  });

  it.each([
    ['OBX-3', [PID, obr('F'), 'OBX|1|NM|||5']],
    ['OBX', [PID, obr('F')]],
    ['PID-3', [obr('F'), K]],
    ['OBR-2/ORC-2', [PID, obr('F', ''), K]],
  ])('refuses with HL7_REQUIRED_FIELD_MISSING at %s', (field, segs) => {
    expect(map(segs)).toMatchObject({
      kind: 'refused',
      code: 'HL7_REQUIRED_FIELD_MISSING',
      field,
    });
  });

  it('refuses an ORU without OBR', () => {
    expect(map([PID, K])).toMatchObject({
      kind: 'refused',
      code: 'HL7_NO_ORDER_GROUP',
      field: 'OBR',
    });
  });

  it('refuses other message types without throwing', () => {
    const adt = parseHl7(`${MSH.replace('ORU^R01', 'ADT^A01')}\r${PID}`);
    expect(mapHl7Message(adt, CTX)).toMatchObject({
      kind: 'refused',
      code: 'HL7_UNSUPPORTED_MESSAGE_TYPE',
    });
    const odd = parseHl7(`${MSH.replace('ORU^R01', 'DOE^JANE SMITH')}\r${PID}`);
    expect(mapHl7Message(odd, CTX)).toMatchObject({
      reason: expect.not.stringContaining('JANE'),
    });
  });
});
