// YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ] (HL7 v2 DTM; TS component 1 has the same shape).
const DTM =
  /^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?(?:([+-])(\d{2})(\d{2}))?$/;

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

function inRange(value: string | undefined, min: number, max: number): boolean {
  if (value === undefined) return true;
  const n = Number(value);
  return n >= min && n <= max;
}

function validDay(year: string, month: string, day: string): boolean {
  const y = Number(year);
  const m = Number(month);
  const d = Number(day);
  // setUTCFullYear, not Date.UTC: the latter maps years 0–99 to 1900–1999.
  const probe = new Date(0);
  probe.setUTCFullYear(y, m, 0);
  const last = probe.getUTCDate();
  return d >= 1 && d <= last;
}

/**
 * Converts an HL7 v2 DTM to ISO 8601, keeping the sender's precision and offset:
 * `2014` → `2014`, `20141006` → `2014-10-06`, `201410060929` → `2014-10-06T09:29:00`,
 * `202110201126+0215` → `2021-10-20T11:26:00+02:15`. A time without offset stays local (no `Z`):
 * HL7 says it is the sender's local time, which we do not know. Invalid input → undefined.
 */
export function hl7DateTimeToIso(value: string): string | undefined {
  const m = DTM.exec(value.trim());
  if (m === null) return undefined;
  const [
    ,
    year = '',
    month,
    day,
    hour,
    minute,
    second,
    fraction,
    sign,
    offH,
    offM,
  ] = m;
  const ok =
    inRange(month, 1, 12) &&
    (day === undefined || month === undefined || validDay(year, month, day)) &&
    inRange(hour, 0, 23) &&
    inRange(minute, 0, 59) &&
    inRange(second, 0, 59) &&
    inRange(offH, 0, 14) &&
    inRange(offM, 0, 59);
  if (!ok) return undefined;
  if (month === undefined) return year;
  if (day === undefined) return `${year}-${month}`;
  if (hour === undefined) return `${year}-${month}-${day}`;
  // Three fraction digits: what JavaScript's Date (and most JSON consumers) can read.
  const ms =
    fraction === undefined ? '' : `.${fraction.padEnd(3, '0').slice(0, 3)}`;
  const offset =
    sign === undefined ? '' : `${sign}${offH ?? '00'}:${offM ?? '00'}`;
  return `${year}-${month}-${day}T${hour}:${minute ?? '00'}:${second ?? '00'}${ms}${offset}`;
}

/** `yyyyMMddHHmmss` in UTC (our hosts run in UTC, so local and UTC agree for partners). */
export function formatHl7DateTime(date: Date): string {
  return (
    pad(date.getUTCFullYear(), 4) +
    pad(date.getUTCMonth() + 1) +
    pad(date.getUTCDate()) +
    pad(date.getUTCHours()) +
    pad(date.getUTCMinutes()) +
    pad(date.getUTCSeconds())
  );
}
