/** A role's answer to "may traffic be sent here?"; each role module provides its checks under {@link READINESS_CHECKS}. */
export interface ReadinessCheck {
  readonly name: string;
  /** Resolves `{ ok: false, ... }` (never rejects) when the role should not receive traffic. */
  check(): Promise<{ ok: boolean; [detail: string]: unknown }>;
}

export const READINESS_CHECKS = Symbol('READINESS_CHECKS');
