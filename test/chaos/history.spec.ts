import { judge, latestAcknowledged, realTimeOrderViolations, type WriteOp } from './history.js';

let nextId = 1;
const put = (value: string, start: number, end: number, cls: WriteOp['cls'] = 'ack'): WriteOp => ({ id: nextId++, kind: 'put', value, cls, start, end });
const del = (start: number, end: number, cls: WriteOp['cls'] = 'ack'): WriteOp => ({ id: nextId++, kind: 'delete', value: null, cls, start, end });
const AFTER = Infinity;

describe('the chaos checker (one key, last writer wins by real time)', () => {
  it('accepts only the last acknowledged write once the run is over', () => {
    const ops = [put('a', 0, 10), put('b', 20, 30)];
    expect(judge(ops, 'b', AFTER, AFTER).ok).toBe(true);
    expect(judge(ops, 'a', AFTER, AFTER)).toMatchObject({ ok: false, kind: 'lost-write' });
    expect(judge(ops, null, AFTER, AFTER)).toMatchObject({ ok: false, kind: 'lost-write' });
  });

  it('lets either of two overlapping acknowledged writes win', () => {
    const ops = [put('a', 0, 30), put('b', 10, 20)];
    expect(judge(ops, 'a', AFTER, AFTER).ok).toBe(true);
    expect(judge(ops, 'b', AFTER, AFTER).ok).toBe(true);
    expect(latestAcknowledged(ops).map((o) => o.value).sort()).toEqual(['a', 'b']);
  });

  it('calls a live value after a final acknowledged delete a resurrection', () => {
    const ops = [put('a', 0, 10), del(20, 30)];
    expect(judge(ops, null, AFTER, AFTER).ok).toBe(true);
    expect(judge(ops, 'a', AFTER, AFTER)).toMatchObject({ ok: false, kind: 'resurrected-delete' });
  });

  it('allows an unacknowledged write that may have happened after the last acknowledged one', () => {
    const answered = [put('a', 0, 10), put('x', 5, 40, 'maybe'), put('b', 20, 30)];
    expect(judge(answered, 'x', AFTER, AFTER).ok).toBe(true); // x's version may be taken after b's
    const early = [put('a', 0, 10), put('x', 2, 8, 'maybe'), put('b', 20, 30)];
    expect(judge(early, 'x', AFTER, AFTER)).toMatchObject({ ok: false, kind: 'lost-write' }); // b surely followed x
    const noAnswer = [put('a', 0, 10), put('x', 2, Infinity, 'maybe'), put('b', 20, 30)];
    expect(judge(noAnswer, 'x', AFTER, AFTER).ok).toBe(true); // a paused coordinator may carry on after the timeout
  });

  it('never accepts the bytes of a refused write, nor bytes nobody wrote', () => {
    const ops = [put('a', 0, 10), put('r', 20, 30, 'refused')];
    expect(judge(ops, 'r', AFTER, AFTER)).toMatchObject({ ok: false, kind: 'refused-write-visible' });
    expect(judge(ops, 'zzz', AFTER, AFTER)).toMatchObject({ ok: false, kind: 'invented-bytes' });
    expect(judge([], null, AFTER, AFTER).ok).toBe(true);
  });

  it('checks reads during the run against the writes acknowledged before they started', () => {
    const ops = [put('a', 0, 10), put('b', 20, 30), del(50, 60, 'maybe')];
    expect(judge(ops, 'a', 15, 25).ok).toBe(true); // b may not have happened yet
    expect(judge(ops, 'b', 15, 25).ok).toBe(true); // b started before the read ended
    expect(judge(ops, 'a', 35, 45)).toMatchObject({ ok: false, kind: 'stale-read' });
    expect(judge(ops, null, 5, 8).ok).toBe(true); // a not acknowledged yet
    expect(judge(ops, null, 35, 45)).toMatchObject({ ok: false, kind: 'stale-read' });
    expect(judge(ops, null, 55, 58).ok).toBe(true); // the delete may have happened
    expect(judge(ops, 'c', 35, 45)).toMatchObject({ ok: false, kind: 'invented-bytes' });
    expect(judge(ops, 'b', 5, 8)).toMatchObject({ ok: false, kind: 'invented-bytes' }); // b had not even started
  });
});

describe('the real-time-order check (owner-fenced versions)', () => {
  const vput = (version: string, start: number, end: number, cls: WriteOp['cls'] = 'ack'): WriteOp => ({ id: nextId++, kind: 'put', value: version, cls, start, end, version });

  it('accepts versions that rise with real time', () => {
    expect(realTimeOrderViolations([vput('v1', 0, 10), vput('v2', 20, 30), vput('v3', 40, 50)])).toEqual([]);
  });

  it('accepts overlapping writes in either order', () => {
    expect(realTimeOrderViolations([vput('v2', 0, 30), vput('v1', 10, 20)])).toEqual([]);
  });

  it('flags a later write with a lower version (a coordinator whose clock is behind, unfenced)', () => {
    const early = vput('v9', 0, 10);
    const late = vput('v1', 20, 30);
    expect(realTimeOrderViolations([early, late])).toEqual([{ earlier: early, later: late }]);
  });

  it('compares with the highest version acknowledged before, not only the last one', () => {
    const a = vput('v9', 0, 10);
    const b = vput('v5', 5, 15); // overlaps a: fine
    const c = vput('v7', 20, 30); // after both: must beat v9
    expect(realTimeOrderViolations([a, b, c]).map((v) => v.later)).toEqual([c]);
  });

  it('ignores writes that were not acknowledged', () => {
    expect(realTimeOrderViolations([vput('v9', 0, 10, 'maybe'), vput('v1', 20, 30)])).toEqual([]);
  });
});
