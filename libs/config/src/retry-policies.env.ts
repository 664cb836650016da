/**
 * The environment keys of retry policies as data (parsed and validated by libs/messaging at boot):
 * `RETRY_POLICIES_FILE` (path to a JSON document) and `RETRY_POLICIES` (inline JSON, merged over it).
 * Read here because configuration is read in one place (house style §5).
 */
export function retryPoliciesEnv(env: Readonly<Record<string, string | undefined>> = process.env): {
  RETRY_POLICIES?: string;
  RETRY_POLICIES_FILE?: string;
} {
  return { RETRY_POLICIES: env.RETRY_POLICIES || undefined, RETRY_POLICIES_FILE: env.RETRY_POLICIES_FILE || undefined };
}
