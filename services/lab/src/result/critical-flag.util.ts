import type { Observation } from '@lifeline/contracts';

/** Critical (panic) limits of one analyte in one unit; a value below `low` or above `high` is critical. */
export interface CriticalRange {
  /** Units the limits are expressed in, compared case-insensitively. */
  units: readonly string[];
  low?: number;
  high?: number;
}

export interface CriticalRule {
  analyte: string;
  /** LOINC code and local aliases (OBX-3.1), compared case-insensitively. */
  codes: readonly string[];
  /** The first range is the analyte's conventional unit, used when OBX-6 is empty. */
  ranges: readonly CriticalRange[];
}

/**
 * A small default table of common critical limits (adult). Sites tune their own; this is what the
 * mesh flags without one. Limits exist per unit because the same number means different things in
 * mg/dL and mmol/L.
 */
export const DEFAULT_CRITICAL_RULES: readonly CriticalRule[] = [
  {
    analyte: 'potassium',
    codes: ['2823-3', 'K'],
    ranges: [{ units: ['mmol/L', 'mEq/L'], low: 2.5, high: 6.5 }],
  },
  {
    analyte: 'glucose',
    codes: ['2345-7'],
    ranges: [
      { units: ['mg/dL'], low: 40, high: 500 },
      { units: ['mmol/L'], low: 2.2, high: 27.8 },
    ],
  },
  {
    analyte: 'sodium',
    codes: ['2951-2'],
    ranges: [{ units: ['mmol/L', 'mEq/L'], low: 120, high: 160 }],
  },
  {
    analyte: 'hemoglobin',
    codes: ['718-7'],
    ranges: [
      { units: ['g/dL'], low: 6 },
      { units: ['g/L'], low: 60 },
    ],
  },
];

// HL7 table 0078: critically high / low / abnormal. H and L alone are abnormal, not critical.
const CRITICAL_FLAGS: ReadonlySet<string> = new Set(['HH', 'LL', 'AA']);

export interface CriticalFlags {
  critical: boolean;
  /** Codes (OBX-3.1) of the critical observations, each once, in observation order; never values. */
  criticalCodes: string[];
}

/** Flags a result critical when any observation carries a critical OBX-8 flag or a value past its limits. */
export function flagCritical(
  observations: readonly Observation[],
  rules: readonly CriticalRule[] = DEFAULT_CRITICAL_RULES,
): CriticalFlags {
  const codes = new Set<string>();
  for (const o of observations) {
    if (hasCriticalFlag(o) || isPastLimits(o, rules)) codes.add(o.code.code);
  }
  return { critical: codes.size > 0, criticalCodes: [...codes] };
}

function hasCriticalFlag(o: Observation): boolean {
  return o.abnormalFlags.some((f) =>
    CRITICAL_FLAGS.has(f.trim().toUpperCase()),
  );
}

function isPastLimits(o: Observation, rules: readonly CriticalRule[]): boolean {
  // Only a single plain number is comparable (the normalizer leaves ranges and "<5" unparsed).
  const value = o.numericValue;
  if (value === undefined || !Number.isFinite(value)) return false;
  const code = normalize(o.code.code);
  const rule = rules.find((r) => r.codes.some((c) => normalize(c) === code));
  const range = rule === undefined ? undefined : rangeFor(rule, o.units);
  if (range === undefined) return false;
  return (
    (range.low !== undefined && value < range.low) ||
    (range.high !== undefined && value > range.high)
  );
}

// An explicit unit we have no limits for is not comparable: guessing could miss a critical value or invent one.
function rangeFor(
  rule: CriticalRule,
  units: string | undefined,
): CriticalRange | undefined {
  if (units === undefined || units.trim() === '') return rule.ranges[0];
  const unit = normalize(units);
  return rule.ranges.find((r) => r.units.some((u) => normalize(u) === unit));
}

function normalize(s: string): string {
  return s.trim().toUpperCase();
}
