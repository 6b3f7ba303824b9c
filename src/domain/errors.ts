/**
 * The errors services throw when a request cannot be served as asked. Each names its kind;
 * the API maps kinds to HTTP statuses in one place (src/api/errors.ts) and the CLI to exit
 * codes, so no router translates errors of its own.
 */
export type DomainErrorKind =
  /** What was named does not exist for this tenant (another tenant's is the same: absent). */
  | 'NotFound'
  /** It exists but is in a state that refuses the change (active runs, a send already begun). */
  | 'Conflict'
  /** A field's value cannot be accepted; `field` names it. */
  | 'Invalid'
  /** A dependency (Temporal, a provider) did not answer; retrying later may work. */
  | 'Unavailable'
  /** A provider answered, but refused or failed what zapflow asked of it (its reason in the message). */
  | 'BadGateway';

export class DomainError extends Error {
  override name = 'DomainError';
  constructor(
    readonly kind: DomainErrorKind,
    message: string,
    /** For Invalid: the request field at fault. */
    readonly field?: string,
  ) {
    super(message);
  }
}
