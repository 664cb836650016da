// HL7 v2.5 test messages with canary demographics (never real PHI). Segments are built from field
// arrays indexed by HL7 field number, so positions stay readable and exact.

export interface Hl7OrmInput {
  controlId: string;
  placerOrderNumber: string;
  /** ORC-2.2 / OBR-2.2 namespace. Default 'LIFELINE'. */
  namespace?: string;
  patientId: string;
  /** S (stat) or R (routine); goes to ORC-7.6 and TQ1-9. */
  priority?: 'S' | 'R';
  /** OBR-5 (the older OBR priority field) only, for senders that put the priority nowhere else. */
  obrPriority?: 'S' | 'R';
  /** ORC-1: NW new order, CA cancel. Default 'NW'. */
  orderControl?: 'NW' | 'CA';
  /** OBR-4 code. Default 'CBC'. */
  testCode?: string;
  /** MSH-15/16 = AL/NE (enhanced acknowledgment mode). */
  enhanced?: boolean;
  sendingApp?: string;
  sendingFacility?: string;
  /** MSH-7 and order times. Default now. */
  timestamp?: Date;
}

export interface Hl7Observation {
  code: string;
  value: string | number;
  units?: string;
  range?: string;
  /** OBX-8, e.g. 'H', 'HH', 'LL'. */
  flags?: string;
}

export interface Hl7OruInput {
  controlId: string;
  placerOrderNumber: string;
  namespace?: string;
  patientId: string;
  observations: Hl7Observation[];
  /** OBR-4 code of the ordered test. Default 'CBC'. */
  testCode?: string;
  /** OBR-25 and OBX-11: F final, P preliminary, C corrected. Default 'F'. */
  resultStatus?: string;
  /** OBR-5: the LIS echoes a stat order's priority on its result (empty when unset). */
  obrPriority?: 'S' | 'R';
  enhanced?: boolean;
  sendingApp?: string;
  sendingFacility?: string;
  timestamp?: Date;
}

const TEST_NAMES: Record<string, string> = {
  CBC: 'Complete blood count',
  BMP: 'Basic metabolic panel',
  K: 'Potassium',
  HGB: 'Hemoglobin',
  WBC: 'Leukocytes',
};

/** ORM^O01 (order) in HL7 v2.5, segments separated by CR. */
export function hl7Orm(input: Hl7OrmInput): string {
  const ns = input.namespace ?? 'LIFELINE';
  const ts = hl7Timestamp(input.timestamp ?? new Date());
  const testCode = input.testCode ?? 'CBC';
  const placer = `${esc(input.placerOrderNumber)}^${esc(ns)}`;
  const priority = input.priority ?? '';
  const segments = [
    msh({ ...input, type: 'ORM^O01^ORM_O01', ts, defaultApp: 'EHR' }),
    pid(input.patientId, input.sendingFacility),
    segment('PV1', { 1: '1', 2: 'O' }),
    segment('ORC', { 1: input.orderControl ?? 'NW', 2: placer, 7: priority === '' ? '' : `^^^^^${priority}`, 9: ts }),
    ...(priority === '' ? [] : [segment('TQ1', { 1: '1', 9: priority })]),
    segment('OBR', { 1: '1', 2: placer, 4: codedTest(testCode), 5: input.obrPriority ?? '', 7: ts }),
  ];
  return segments.join('\r');
}

/** ORU^R01 (result) in HL7 v2.5, one OBX per observation, segments separated by CR. */
export function hl7Oru(input: Hl7OruInput): string {
  const ns = input.namespace ?? 'LIFELINE';
  const ts = hl7Timestamp(input.timestamp ?? new Date());
  const status = input.resultStatus ?? 'F';
  const placer = `${esc(input.placerOrderNumber)}^${esc(ns)}`;
  const segments = [
    msh({ ...input, type: 'ORU^R01^ORU_R01', ts, defaultApp: 'LIS' }),
    pid(input.patientId, input.sendingFacility),
    segment('ORC', { 1: 'RE', 2: placer, 9: ts }),
    segment('OBR', { 1: '1', 2: placer, 4: codedTest(input.testCode ?? 'CBC'), 5: input.obrPriority ?? '', 7: ts, 22: ts, 25: status }),
    ...input.observations.map((o, i) =>
      segment('OBX', {
        1: String(i + 1),
        2: typeof o.value === 'number' || /^-?\d+(\.\d+)?$/.test(o.value) ? 'NM' : 'ST',
        3: codedTest(o.code),
        5: esc(String(o.value)),
        6: esc(o.units ?? ''),
        7: esc(o.range ?? ''),
        8: esc(o.flags ?? ''),
        11: status,
        14: ts,
      }),
    ),
  ];
  return segments.join('\r');
}

/** YYYYMMDDHHMMSS in UTC. */
export function hl7Timestamp(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

function msh(m: {
  type: string;
  ts: string;
  controlId: string;
  defaultApp: string;
  sendingApp?: string;
  sendingFacility?: string;
  enhanced?: boolean;
}): string {
  // MSH-1 is the field separator itself, so MSH-2 is the first element after "MSH|"
  const fields: Record<number, string> = {
    2: '^~\\&',
    3: esc(m.sendingApp ?? m.defaultApp),
    4: esc(m.sendingFacility ?? 'HOSP'),
    5: 'LIFELINE',
    6: 'HOSP',
    7: m.ts,
    9: m.type,
    10: esc(m.controlId),
    11: 'P',
    12: '2.5',
  };
  if (m.enhanced === true) {
    fields[15] = 'AL';
    fields[16] = 'NE';
  }
  return `MSH|${fieldList(fields, 2).join('|')}`;
}

function pid(patientId: string, facility = 'HOSP'): string {
  return segment('PID', { 1: '1', 3: `${esc(patientId)}^^^${esc(facility)}^MR`, 5: 'CANARY^TEST', 7: '19700101', 8: 'U' });
}

function codedTest(code: string): string {
  return `${esc(code)}^${esc(TEST_NAMES[code] ?? code)}^L`;
}

function segment(name: string, fields: Record<number, string>): string {
  return [name, ...fieldList(fields, 1)].join('|');
}

function fieldList(fields: Record<number, string>, first: number): string[] {
  const last = Math.max(first, ...Object.keys(fields).map(Number));
  const out: string[] = [];
  for (let n = first; n <= last; n += 1) out.push(fields[n] ?? '');
  while (out.length > 1 && out.at(-1) === '') out.pop();
  return out;
}

/** HL7 escape sequences for the delimiters (the escape character first). */
function esc(text: string): string {
  return text.replace(/\\/g, '\\E\\').replace(/\|/g, '\\F\\').replace(/\^/g, '\\S\\').replace(/~/g, '\\R\\').replace(/&/g, '\\T\\');
}
