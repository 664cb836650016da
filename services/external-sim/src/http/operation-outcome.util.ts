/** FHIR IssueType codes the sim answers with (hl7.org/fhir/R4/valueset-issue-type.html). */
export type IssueCode =
  | 'invalid'
  | 'required'
  | 'too-long'
  | 'not-found'
  | 'not-supported'
  | 'transient'
  | 'throttled'
  | 'exception';

export interface OperationOutcome {
  [key: string]: unknown;
  resourceType: 'OperationOutcome';
  issue: { severity: 'error'; code: IssueCode; diagnostics: string }[];
}

/** `diagnostics` is a fixed text chosen by the sim: never an echo of the request. */
export function operationOutcome(
  code: IssueCode,
  diagnostics: string,
): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code, diagnostics }],
  };
}

/**
 * Names what is wrong by path and rule only: zod messages can quote unknown keys or allowed
 * values, and a request body (possibly PHI) is never echoed. Our own refinements say more.
 */
export function describeIssues(
  issues: readonly { path: PropertyKey[]; code: string; message: string }[],
): string {
  return issues
    .map((i) => {
      const path = i.path.map(String).join('.') || '(body)';
      return `${path}: ${i.code === 'custom' ? i.message : i.code}`;
    })
    .join('; ');
}
