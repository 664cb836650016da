import { readdirSync, readFileSync } from 'node:fs';

import { describe, expect, it } from '@jest/globals';

import { validatePayload } from '@lifeline/contracts';
import { isAppError } from '@lifeline/errors';
import { parseHl7 } from '@lifeline/hl7';

import { HL7_MAPPING_ERROR_CODES } from './hl7-mapping.errors.js';
import type { Hl7MappingErrorCode } from './hl7-mapping.errors.js';
import type { MappingOutcome } from './hl7-mapping.util.js';
import { mapHl7Message } from './hl7-message.mapper.js';

const CORPUS = new URL('../../../../../shared/corpora/hl7v2/', import.meta.url);
const ALL_FILES = readdirSync(CORPUS)
  .filter((f) => f.endsWith('.hl7'))
  .sort();
const ORDER_AND_RESULT_FILE =
  /^(ORM-O01-|OML-O21-|MDHHS-OML-O21-|LAB-ORM-|LAB-ORU-|ORU-R01-).*\.hl7$/;
const CTX = {
  sourceMessageId: 'ingest-1',
  patientKeySecret: 'corpus-secret-0123456789',
};

type Kind = 'placed' | 'cancel' | 'result';
type Expected =
  | { events: Array<[Kind, string, 'routine' | 'stat', number]> } // kind, orderId, priority, tests/observations
  | { refused: Hl7MappingErrorCode; field: string };

/** Outcome per corpus file, determined by reading each file. A changed outcome must fail here. */
const EXPECTED: Readonly<Record<string, Expected>> = {
  // v2.3, placer without namespace in ORC-2 and OBR-2.
  'LAB-ORM-1.hl7': {
    events: [['placed', 'UNSPECIFIED:88502218', 'routine', 1]],
  },
  // Two OBR groups; the second has no OBR-25 (defaults to F).
  'LAB-ORU-1.hl7': {
    events: [
      ['result', 'UNSPECIFIED:88502218', 'routine', 5],
      ['result', 'UNSPECIFIED:855238581', 'routine', 5],
    ],
  },
  // The ORC is glued onto the GT1 line (missing separator), so the lone OBR is the order.
  'MDHHS-OML-O21-1.hl7': {
    events: [['placed', 'UNSPECIFIED:ORD723222', 'routine', 1]],
  },
  // One ORC with two OBRs: one order, two tests.
  'MDHHS-OML-O21-2.hl7': {
    events: [['placed', 'UNSPECIFIED:ORD723222', 'routine', 2]],
  },
  'OML-O21-01.hl7': { events: [['placed', 'GHHPlacer:1101', 'routine', 1]] },
  // Really an ORM^O01 (see MSH-9) with two order groups.
  'OML-O21-02.hl7': {
    events: [
      ['placed', 'GHHPlacer:1101', 'routine', 1],
      ['placed', 'GHHPlacer:2203', 'routine', 1],
    ],
  },
  'ORM-O01-01.hl7': { events: [['placed', 'GHHPlacer:1101', 'routine', 1]] },
  'ORM-O01-02.hl7': { events: [['placed', 'GHHPlacer:1101', 'routine', 1]] },
  'ORM-O01-03.hl7': {
    events: [
      ['placed', 'GHHPlacer:1101', 'routine', 1],
      ['placed', 'GHHPlacer:2203', 'routine', 1],
    ],
  },
  // ORC NW with a dietary ODS and no OBR: nothing to order from the lab.
  'ORM-O01-04.hl7': { refused: 'HL7_REQUIRED_FIELD_MISSING', field: 'OBR-4' },
  // OBXs before the OBR and after the SPM are not results; one CWE observation remains.
  'ORU-R01-01.hl7': { events: [['result', 'GHH OE:845439', 'routine', 1]] },
};

const KIND_OF_TYPE: Readonly<Record<string, Kind>> = {
  'clinical.order.placed.v1': 'placed',
  'clinical.order.cancel-requested.v1': 'cancel',
  'clinical.result.received.v1': 'result',
};

function summary(outcome: MappingOutcome): Expected {
  if (outcome.kind === 'refused')
    return { refused: outcome.code, field: outcome.field ?? '' };
  return {
    events: outcome.events.map((e) => [
      KIND_OF_TYPE[e.type] ?? 'placed',
      e.data.orderId,
      e.priority,
      'tests' in e.data
        ? e.data.tests.length
        : 'observations' in e.data
          ? e.data.observations.length
          : 0,
    ]),
  };
}

const read = (file: string): Buffer => readFileSync(new URL(file, CORPUS));

describe('mapHl7Message over the corpus', () => {
  it('has an expected outcome for exactly the ORM / OML / ORU files', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual(
      ALL_FILES.filter((f) => ORDER_AND_RESULT_FILE.test(f)),
    );
  });

  it.each(Object.keys(EXPECTED))(
    '%s maps as expected, every payload valid',
    (file) => {
      const outcome = mapHl7Message(parseHl7(read(file)), CTX);
      expect(summary(outcome)).toEqual(EXPECTED[file]);
      if (outcome.kind === 'events') {
        for (const event of outcome.events) {
          expect(validatePayload(event.type, event.data)).toMatchObject({
            ok: true,
          });
          expect(event.patientKey).toBe(event.data.patient.key);
          expect(event.idempotencyKey).toContain(event.data.orderId);
        }
      }
    },
  );

  it.each(ALL_FILES.filter((f) => !ORDER_AND_RESULT_FILE.test(f)))(
    '%s is refused as unsupported',
    (file) => {
      expect(mapHl7Message(parseHl7(read(file)), CTX)).toMatchObject({
        kind: 'refused',
        code: 'HL7_UNSUPPORTED_MESSAGE_TYPE',
        field: 'MSH-9',
      });
    },
  );

  it('never throws on mutated corpus messages and only refuses with known codes', () => {
    // Deterministic LCG: reproducible "random" damage without a fuzzing dependency.
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % Math.max(n, 1);
    };
    const files = Object.keys(EXPECTED);
    for (let i = 0; i < 3_000; i += 1) {
      const lines = read(files[i % files.length] ?? '')
        .toString('utf8')
        .split('\n');
      const line = rand(lines.length);
      const target = lines[line] ?? '';
      const cut = rand(target.length + 1);
      const damage = [
        () => lines.splice(line, 1),
        () => (lines[line] = target.slice(0, cut)),
        () =>
          (lines[line] = `${target.slice(0, cut)}|\\^&~${target.slice(cut)}`),
        () => (lines[line] = target.replace(/\|[^|]*/, '|')),
      ][rand(4)];
      damage?.();
      let outcome: MappingOutcome;
      try {
        outcome = mapHl7Message(parseHl7(lines.join('\r')), CTX);
      } catch (err) {
        // Only the parser may refuse, and only with its AppError.
        expect(isAppError(err, 'HL7_MSH_INVALID')).toBe(true);
        continue;
      }
      if (outcome.kind === 'refused')
        expect(HL7_MAPPING_ERROR_CODES).toContain(outcome.code);
      else
        for (const e of outcome.events)
          expect(validatePayload(e.type, e.data).ok).toBe(true);
    }
  });
});
