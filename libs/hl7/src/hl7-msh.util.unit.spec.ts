import { readdirSync, readFileSync } from 'node:fs';

import { describe, expect, it } from '@jest/globals';

import { parseMsh } from './hl7-msh.util.js';
import { parseHl7 } from './hl7-parse.util.js';

const CORPUS = new URL('../../../../shared/corpora/hl7v2/', import.meta.url);
const FILES = readdirSync(CORPUS)
  .filter((f) => f.endsWith('.hl7'))
  .sort();

// Files whose name does not follow `<CODE>-<TRIGGER>-<n>.hl7`, or lies: the MSH-9 they really carry.
const NAME_EXCEPTIONS: Readonly<Record<string, string>> = {
  'ADT01-23.hl7': 'ADT^A01',
  'ADT01-28.hl7': 'ADT^A01',
  'ADT04-23.hl7': 'ADT^A04',
  'ADT04-28.hl7': 'ADT^A04',
  'IZ_1_1.1_Admin_Child_Max_Message.hl7': 'VXU^V04',
  'LAB-ORM-1.hl7': 'ORM^O01',
  'LAB-ORU-1.hl7': 'ORU^R01',
  'PC1-Problem-Add-v2.3.1.hl7': 'PPR^PC1',
  'PC1-Problem-Update-v2.3.1.hl7': 'PPR^PC2',
  'PC1-Problem-Delete-v2.3.1.hl7': 'PPR^PC3',
  'SIU-S12_1.hl7': 'SIU^S12',
  // Mislabelled upstream (microsoft/FHIR-Converter sample data): the name says one type, MSH-9 another.
  'OML-O21-02.hl7': 'ORM^O01',
  'MDM_01.hl7': 'ADT^A01',
  'SIU_12.hl7': 'ADT^A60',
};

function expectedType(file: string): string | undefined {
  const exception = NAME_EXCEPTIONS[file];
  if (exception !== undefined) return exception;
  const m = /([A-Z]{3})-([A-Z]\d{2})-\d+\.hl7$/.exec(file);
  return m === null ? undefined : `${m[1]}^${m[2]}`;
}

const MSH =
  'MSH|^~\\&|LAB^1.2.3^ISO|FAC|EHR|EFAC|202401020304+0100||ORU^R01^ORU_R01|C-9|T|2.5.1|||AL|NE';

describe('parseMsh', () => {
  it('reads the header fields', () => {
    expect(parseMsh(MSH)).toEqual({
      encoding: {
        field: '|',
        component: '^',
        repetition: '~',
        escape: '\\',
        subcomponent: '&',
      },
      sendingApplication: 'LAB^1.2.3^ISO',
      sendingFacility: 'FAC',
      receivingApplication: 'EHR',
      receivingFacility: 'EFAC',
      dateTime: '202401020304+0100',
      messageType: 'ORU^R01',
      messageCode: 'ORU',
      triggerEvent: 'R01',
      messageStructure: 'ORU_R01',
      controlId: 'C-9',
      processingId: 'T',
      version: '2.5.1',
      acceptAckType: 'AL',
      applicationAckType: 'NE',
    });
  });

  it('re-encodes HD fields of a message with other delimiters to ^~\\&', () => {
    // '^' is plain data under these delimiters; '!S!' is their escaped component separator ('*').
    const msh = parseMsh(
      'MSH#*@!$#APP*1.2^3*ISO#F!S!X#R#RF#2024##ADT*A01#X1#P#2.3',
    );
    expect(msh.sendingApplication).toBe('APP^1.2\\S\\3^ISO');
    expect(msh.sendingFacility).toBe('F*X');
    expect(msh.messageType).toBe('ADT^A01');
  });

  it.each([
    ['MSH-9', 'MSH|^~\\&|A|B|C|D|2024||^R01|C1|P|2.5'],
    ['MSH-10', 'MSH|^~\\&|A|B|C|D|2024||ORU^R01||P|2.5'],
    ['MSH-12', 'MSH|^~\\&|A|B|C|D|2024||ORU^R01|C1|P|'],
    ['MSH-2', 'MSH|^~|A|B|C|D|2024||ORU^R01|C1|P|2.5'],
    ['MSH-1', 'MSH1^~\\&1A'],
    ['MSH', 'PID|1'],
  ])('refuses a header with a bad %s, naming the field', (field, text) => {
    let caught: unknown;
    try {
      parseMsh(text);
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({
      code: 'HL7_MSH_INVALID',
      retryable: false,
      details: { field },
    });
    expect((caught as Error).message).toContain(field);
  });

  it('knows the expected type of every corpus file', () => {
    expect(FILES.length).toBeGreaterThanOrEqual(127);
    expect(FILES.filter((f) => expectedType(f) === undefined)).toEqual([]);
  });

  it.each(FILES)('parses the MSH of corpus file %s', (file) => {
    const text = readFileSync(new URL(file, CORPUS));
    const msh = parseMsh(text);
    expect(msh.controlId).not.toBe('');
    expect(msh.messageType).toBe(expectedType(file));
    expect(parseHl7(text).segments.length).toBeGreaterThan(1);
  });
});
