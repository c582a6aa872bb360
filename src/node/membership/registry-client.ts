import http from 'node:http';
import https from 'node:https';
import axios, { type AxiosInstance } from 'axios';
import type { HeartbeatDto, MembershipDto, RegisterNodeDto } from '../../common/protocol/membership.dto.js';

/** What the node asks of one registry (a port: specs fake it). */
export interface RegistryPort {
  readonly baseUrl: string;
  register(dto: RegisterNodeDto): Promise<MembershipDto>;
  /** Resolves `undefined` when the registry does not know the node (404): the caller registers again. */
  heartbeat(id: string, dto: HeartbeatDto): Promise<MembershipDto | undefined>;
  /** SIGTERM: the node says it is stopping; a registry that does not know it has nothing to do. */
  stop(id: string): Promise<void>;
}

/** Makes the client for one registry URL; `localAddress` (PEER_SOURCE_ADDRESS) binds its connections' source. */
export type RegistryConnector = (baseUrl: string, token: string, timeoutMs: number, localAddress?: string) => RegistryPort;
export const REGISTRY_CONNECTOR = Symbol('REGISTRY_CONNECTOR');
export const connectRegistry: RegistryConnector = (baseUrl, token, timeoutMs, localAddress) => new RegistryClient(baseUrl, token, timeoutMs, localAddress);

/** Calls to one registry. Every call carries the cluster token and a short timeout: a slow registry must not stall heartbeats. */
export class RegistryClient implements RegistryPort {
  private readonly http: AxiosInstance;

  constructor(
    readonly baseUrl: string,
    token: string,
    timeoutMs: number,
    localAddress?: string,
  ) {
    // Agents of our own only when the source address is pinned; otherwise axios's defaults, as before.
    const agents = localAddress ? { httpAgent: new http.Agent({ keepAlive: true, localAddress }), httpsAgent: new https.Agent({ keepAlive: true, localAddress }) } : {};
    this.http = axios.create({ baseURL: baseUrl, timeout: timeoutMs, headers: { authorization: `Bearer ${token}` }, proxy: false, ...agents });
  }

  async register(dto: RegisterNodeDto): Promise<MembershipDto> {
    return (await this.http.post<MembershipDto>('/v1/nodes', dto)).data;
  }

  /** Resolves `undefined` when the registry does not know the node (404): the caller registers again. */
  async heartbeat(id: string, dto: HeartbeatDto): Promise<MembershipDto | undefined> {
    const res = await this.http.put<MembershipDto>(`/v1/nodes/${encodeURIComponent(id)}/heartbeat`, dto, { validateStatus: (s) => s === 200 || s === 404 });
    return res.status === 404 ? undefined : res.data;
  }

  /** SIGTERM: the node says it is stopping (it keeps its place); a registry that does not know it has nothing to do. */
  async stop(id: string): Promise<void> {
    await this.http.post(`/v1/nodes/${encodeURIComponent(id)}/stop`, undefined, { validateStatus: (s) => s === 204 || s === 404 });
  }
}
