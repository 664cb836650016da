import { createHmac } from 'node:crypto';

import { AppError } from '@lifeline/errors';

export type PatientKeyErrorCode = 'PATIENT_KEY_SECRET_INVALID';

// Below this an attacker could brute-force the key and then dictionary-attack record numbers.
const MIN_SECRET_LENGTH = 16;

/**
 * Keyed hash of a patient identifier, safe for headers, logs and metrics: HMAC-SHA256(secret,
 * `${assigningAuthority ?? ''}|${identifier}`), first 32 hex chars. Throws only on a misconfigured
 * (short) secret, never because of message content.
 */
export function patientKey(params: {
  secret: string;
  identifier: string;
  assigningAuthority?: string;
}): string {
  if (params.secret.length < MIN_SECRET_LENGTH) {
    throw new AppError<PatientKeyErrorCode>({
      code: 'PATIENT_KEY_SECRET_INVALID',
      retryable: false,
      message: `patient key secret must have at least ${MIN_SECRET_LENGTH} characters`,
    });
  }
  return createHmac('sha256', params.secret)
    .update(`${params.assigningAuthority ?? ''}|${params.identifier}`)
    .digest('hex')
    .slice(0, 32);
}
