import { describe, expect, it } from '@jest/globals';
import { Hl7Message } from '@medplum/core';

import { hl7Orm, hl7Oru } from './hl7-builders.js';

const AT = new Date('2026-03-01T08:30:05Z');

function segmentNames(message: string): string[] {
  return message.split('\r').map((s) => s.slice(0, 3));
}

describe('hl7Orm', () => {
  it('builds a parseable ORM^O01 v2.5 with the placer number in ORC-2 and OBR-2', () => {
    const text = hl7Orm({ controlId: 'MSG-1', placerOrderNumber: 'PO-77', patientId: 'P-1', timestamp: AT });
    expect(text).not.toContain('\n');
    expect(segmentNames(text)).toEqual(['MSH', 'PID', 'PV1', 'ORC', 'OBR']);

    const msg = Hl7Message.parse(text);
    expect(msg.getSegment('MSH')?.getField(9)?.toString()).toBe('ORM^O01^ORM_O01');
    expect(msg.getSegment('MSH')?.getField(10)?.toString()).toBe('MSG-1');
    expect(msg.getSegment('MSH')?.getField(12)?.toString()).toBe('2.5');
    expect(msg.getSegment('MSH')?.getField(7)?.toString()).toBe('20260301083005');
    expect(msg.getSegment('ORC')?.getField(1)?.toString()).toBe('NW');
    expect(msg.getSegment('ORC')?.getField(2)?.toString()).toBe('PO-77^LIFELINE');
    expect(msg.getSegment('OBR')?.getField(2)?.toString()).toBe('PO-77^LIFELINE');
    expect(msg.getSegment('OBR')?.getComponent(4, 1)).toBe('CBC');
    expect(msg.getSegment('PID')?.getComponent(3, 1)).toBe('P-1');
    expect(msg.getSegment('PID')?.getField(5)?.toString()).toBe('CANARY^TEST');
    expect(msg.getSegment('MSH')?.getField(15)?.toString() ?? '').toBe('');
  });

  it('puts a stat priority in ORC-7.6 and TQ1-9, and AL/NE in MSH-15/16 when enhanced', () => {
    const text = hl7Orm({
      controlId: 'MSG-2',
      placerOrderNumber: 'PO-78',
      namespace: 'EPIC',
      patientId: 'P-2',
      priority: 'S',
      orderControl: 'CA',
      testCode: 'K',
      enhanced: true,
      sendingApp: 'CLINIC',
      sendingFacility: 'NORTH',
    });
    expect(segmentNames(text)).toEqual(['MSH', 'PID', 'PV1', 'ORC', 'TQ1', 'OBR']);
    const msg = Hl7Message.parse(text);
    expect(msg.getSegment('ORC')?.getField(1)?.toString()).toBe('CA');
    expect(msg.getSegment('ORC')?.getField(2)?.toString()).toBe('PO-78^EPIC');
    expect(msg.getSegment('ORC')?.getComponent(7, 6)).toBe('S');
    expect(msg.getSegment('TQ1')?.getField(9)?.toString()).toBe('S');
    expect(msg.getSegment('MSH')?.getField(3)?.toString()).toBe('CLINIC');
    expect(msg.getSegment('MSH')?.getField(4)?.toString()).toBe('NORTH');
    expect(msg.getSegment('MSH')?.getField(15)?.toString()).toBe('AL');
    expect(msg.getSegment('MSH')?.getField(16)?.toString()).toBe('NE');
    expect(msg.getSegment('OBR')?.getComponent(4, 1)).toBe('K');
  });

  it('puts obrPriority in OBR-5 only (no ORC-7, no TQ1)', () => {
    const text = hl7Orm({ controlId: 'MSG-3', placerOrderNumber: 'PO-79', patientId: 'P-3', obrPriority: 'S' });
    expect(segmentNames(text)).toEqual(['MSH', 'PID', 'PV1', 'ORC', 'OBR']);
    const msg = Hl7Message.parse(text);
    expect(msg.getSegment('OBR')?.getField(5)?.toString()).toBe('S');
    expect(msg.getSegment('ORC')?.getField(7)?.toString() ?? '').toBe('');
  });

  it('escapes HL7 delimiters inside values', () => {
    const text = hl7Orm({ controlId: 'A|B', placerOrderNumber: 'P^1', patientId: 'X&Y' });
    const msh = text.split('\r')[0] ?? '';
    expect(msh.split('|')[9]).toBe('A\\F\\B');
    expect(text).toContain('ORC|NW|P\\S\\1^LIFELINE');
  });
});

describe('hl7Oru', () => {
  it('builds a parseable ORU^R01 with one OBX per observation and the result status', () => {
    const text = hl7Oru({
      controlId: 'RES-1',
      placerOrderNumber: 'PO-77',
      namespace: 'LIFELINE',
      patientId: 'P-1',
      observations: [
        { code: 'K', value: 6.9, units: 'mmol/L', range: '3.5-5.1', flags: 'HH' },
        { code: 'NOTE', value: 'hemolysed' },
      ],
    });
    expect(segmentNames(text)).toEqual(['MSH', 'PID', 'ORC', 'OBR', 'OBX', 'OBX']);
    const msg = Hl7Message.parse(text);
    expect(msg.getSegment('MSH')?.getField(9)?.toString()).toBe('ORU^R01^ORU_R01');
    expect(msg.getSegment('MSH')?.getField(10)?.toString()).toBe('RES-1');
    expect(msg.getSegment('OBR')?.getField(2)?.toString()).toBe('PO-77^LIFELINE');
    expect(msg.getSegment('OBR')?.getField(25)?.toString()).toBe('F');
    const [potassium, note] = msg.getAllSegments('OBX');
    expect(potassium?.getField(2)?.toString()).toBe('NM');
    expect(potassium?.getComponent(3, 1)).toBe('K');
    expect(potassium?.getField(5)?.toString()).toBe('6.9');
    expect(potassium?.getField(6)?.toString()).toBe('mmol/L');
    expect(potassium?.getField(7)?.toString()).toBe('3.5-5.1');
    expect(potassium?.getField(8)?.toString()).toBe('HH');
    expect(potassium?.getField(11)?.toString()).toBe('F');
    expect(note?.getField(2)?.toString()).toBe('ST');
    expect(note?.getField(5)?.toString()).toBe('hemolysed');
  });

  it('carries a preliminary status into OBR-25 and every OBX-11', () => {
    const text = hl7Oru({
      controlId: 'RES-2',
      placerOrderNumber: 'PO-9',
      namespace: 'LIFELINE',
      patientId: 'P-3',
      resultStatus: 'P',
      observations: [{ code: 'HGB', value: '13.2' }],
    });
    const msg = Hl7Message.parse(text);
    expect(msg.getSegment('OBR')?.getField(25)?.toString()).toBe('P');
    expect(msg.getSegment('OBX')?.getField(11)?.toString()).toBe('P');
  });
});
