import type { MembershipDto, NodeRecordDto } from '../../common/protocol/membership.dto.js';
import { mergeMemberships, sameMembers } from './merge.js';

const rec = (id: string, status: NodeRecordDto['status'], hb: string): NodeRecordDto => ({
  id, url: `http://127.0.0.1/${id}`, status, lastHeartbeatAt: hb, registeredAt: hb, capacityBytes: 10, freeBytes: 5, files: 1, usedBytes: 1,
});
const list = (...nodes: NodeRecordDto[]): MembershipDto => ({ epoch: 1, partitionBits: 10, nodes });

describe('mergeMemberships', () => {
  it('is up if any registry says up, and in the placement if any says not dead', () => {
    const a = list(rec('n1', 'down', '2026-01-01T00:00:05Z'), rec('n2', 'dead', '2026-01-01T00:00:00Z'), rec('n3', 'dead', '2026-01-01T00:00:00Z'));
    const b = list(rec('n1', 'up', '2026-01-01T00:00:01Z'), rec('n2', 'down', '2026-01-01T00:00:00Z'));
    const merged = mergeMemberships([a, b]);
    expect(merged.map((m) => [m.id, m.status])).toEqual([['n1', 'up'], ['n2', 'down'], ['n3', 'dead']]);
  });

  it('lets a decommission known to one registry win, and prefers stopped over down', () => {
    const a = list(rec('n1', 'leaving', '2026-01-01T00:00:00Z'), rec('n2', 'stopped', '2026-01-01T00:00:00Z'), rec('n3', 'left', '2026-01-01T00:00:00Z'));
    const b = list(rec('n1', 'up', '2026-01-01T00:00:01Z'), rec('n2', 'down', '2026-01-01T00:00:01Z'), rec('n3', 'leaving', '2026-01-01T00:00:01Z'));
    expect(mergeMemberships([a, b]).map((m) => [m.id, m.status])).toEqual([['n1', 'leaving'], ['n2', 'stopped'], ['n3', 'left']]);
    expect(mergeMemberships([b, a]).map((m) => [m.id, m.status])).toEqual([['n1', 'leaving'], ['n2', 'stopped'], ['n3', 'left']]);
  });

  it('keeps nodes known to only one registry and sorts by id', () => {
    const merged = mergeMemberships([list(rec('b', 'up', '2026-01-01T00:00:00Z')), list(rec('a', 'up', '2026-01-01T00:00:00Z'))]);
    expect(merged.map((m) => m.id)).toEqual(['a', 'b']);
  });

  it('compares by id, url and status', () => {
    const x = mergeMemberships([list(rec('a', 'up', '2026-01-01T00:00:00Z'))]);
    const y = mergeMemberships([list(rec('a', 'up', '2026-01-01T00:00:09Z'))]);
    const z = mergeMemberships([list(rec('a', 'down', '2026-01-01T00:00:09Z'))]);
    expect(sameMembers(x, y)).toBe(true);
    expect(sameMembers(x, z)).toBe(false);
  });
});
