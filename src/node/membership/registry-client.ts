import axios, { type AxiosInstance } from 'axios';
import type { HeartbeatDto, MembershipDto, RegisterNodeDto } from '../../common/protocol/membership.dto.js';

/** Calls to one registry. Every call carries the cluster token and a short timeout: a slow registry must not stall heartbeats. */
export class RegistryClient {
  private readonly http: AxiosInstance;

  constructor(
    readonly baseUrl: string,
    token: string,
    timeoutMs: number,
  ) {
    this.http = axios.create({ baseURL: baseUrl, timeout: timeoutMs, headers: { authorization: `Bearer ${token}` }, proxy: false });
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
