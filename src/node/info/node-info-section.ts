/**
 * `GET /v1/node` is assembled from what each layer reports about itself (api/node-info.service.ts): every layer
 * contributes a {@link NodeInfoSection} with its own fields, so the API layer needs no knowledge of their insides
 * and a new layer adds its section rather than a dependency of the assembler. This file sits below every layer; the
 * shapes are plain (the OpenAPI DTOs in api/files.dto.ts implement them).
 */

/** A member as this node sees it. */
export interface MemberReport {
  id: string;
  url: string;
  status: string;
  lastHeartbeatAt: string;
}

export interface RegistryReport {
  url: string;
  registered: boolean;
  lastOkAt?: string;
  lastError?: string;
}

/** The last synchronisation round (sync/sync.service.ts). */
export interface SyncReport {
  lastRoundAt?: string;
  lastRoundMs: number;
  lastRoundDiffering: number;
  lastRoundPulled: number;
  handoverBacklog: number;
  quarantined: number;
}

/** Everything `GET /v1/node` answers. */
export interface NodeInfoReport {
  id: string;
  url: string;
  state: string;
  files: number;
  usedBytes: number;
  freeBytes: number;
  capacityBytes: number;
  quorums: { n: number; w: number; r: number };
  handoffPending: number;
  members: MemberReport[];
  registries: RegistryReport[];
  sync?: SyncReport;
}

/**
 * The order of the fields in the answer, whichever section reports them (clients and the OpenAPI document see the
 * same JSON as before the sections existed). Typed so that a field added to the report cannot be forgotten here.
 */
export const NODE_INFO_FIELDS = [
  'id', 'url', 'state', 'files', 'usedBytes', 'freeBytes', 'capacityBytes', 'quorums', 'handoffPending', 'members', 'registries', 'sync',
] as const satisfies readonly (keyof NodeInfoReport)[];

/** One layer's part of the node's description. */
export interface NodeInfoSection {
  /** for errors: which layer failed to describe itself */
  readonly name: string;
  describe(): Partial<NodeInfoReport> | Promise<Partial<NodeInfoReport>>;
}

/** Every layer's section, in no particular order (see NODE_INFO_FIELDS). */
export const NODE_INFO_SECTIONS = Symbol('NODE_INFO_SECTIONS');

type Unordered = Exclude<keyof NodeInfoReport, (typeof NODE_INFO_FIELDS)[number]>;
/** Fails to compile when NodeInfoReport gains a field that NODE_INFO_FIELDS does not place. */
export const NODE_INFO_FIELDS_COMPLETE: [Unordered] extends [never] ? true : never = true;
