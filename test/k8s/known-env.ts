import { ENV_VAR_NAMES } from '../../src/config/env.schema.js';

/** The variables the app reads: the manifests may set only these (plus downward-API helpers, see the spec). */
export const DESIGN_ENV_VARS: readonly string[] = ENV_VAR_NAMES;
