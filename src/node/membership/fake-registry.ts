import type { HeartbeatDto, MembershipDto, NodeRecordDto, NodeStatus, RegisterNodeDto } from '../../common/protocol/membership.dto.js';
import type { RegistryConnector, RegistryPort } from './registry-client.js';

/**
 * An in-memory registry for specs (the port {@link RegistryPort}): it records every call, answers as the real one
 * does (404 on a heartbeat from a node it does not know ⇒ `undefined`), and can be made unreachable.
 */
export class FakeRegistry implements RegistryPort {
  readonly calls: ({ op: 'register'; dto: RegisterNodeDto } | { op: 'heartbeat'; id: string; dto: HeartbeatDto } | { op: 'stop'; id: string })[] = [];
  readonly nodes = new Map<string, NodeRecordDto>();
  epoch = 0;
  /** When set, every call rejects with it (as axios does for a refused connection). */
  down?: Error;
  /** Calls wait for this before answering, when set (a slow registry). */
  gate?: Promise<void>;

  constructor(readonly baseUrl = 'http://registry.test') {}

  /** A connector that hands out this registry for its URL. */
  static connector(...registries: FakeRegistry[]): RegistryConnector {
    return (url) => {
      const r = registries.find((x) => x.baseUrl === url);
      if (!r) throw new Error(`no fake registry at ${url}`);
      return r;
    };
  }

  setStatus(id: string, status: NodeStatus): void {
    const n = this.nodes.get(id);
    if (n) n.status = status;
    this.epoch++;
  }

  async register(dto: RegisterNodeDto): Promise<MembershipDto> {
    await this.enter();
    this.calls.push({ op: 'register', dto });
    const now = new Date(0).toISOString();
    this.nodes.set(dto.id, { id: dto.id, url: dto.url, status: 'up', lastHeartbeatAt: now, registeredAt: now, capacityBytes: dto.capacityBytes, freeBytes: dto.freeBytes, files: 0, usedBytes: 0 });
    this.epoch++;
    return this.membership();
  }

  async heartbeat(id: string, dto: HeartbeatDto): Promise<MembershipDto | undefined> {
    await this.enter();
    this.calls.push({ op: 'heartbeat', id, dto });
    const n = this.nodes.get(id);
    if (!n) return undefined;
    if (n.status === 'stopped' || n.status === 'down') n.status = 'up';
    n.freeBytes = dto.freeBytes;
    n.files = dto.files;
    return this.membership();
  }

  async stop(id: string): Promise<void> {
    await this.enter();
    this.calls.push({ op: 'stop', id });
    const n = this.nodes.get(id);
    if (n) n.status = 'stopped';
  }

  membership(): MembershipDto {
    return { epoch: this.epoch, partitionBits: 10, nodes: [...this.nodes.values()].map((n) => ({ ...n })) };
  }

  private async enter(): Promise<void> {
    await this.gate;
    if (this.down) throw this.down;
  }
}
