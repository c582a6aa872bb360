import { FaultNet } from './fault-net.js';

/** The fault proxy's rules alone (no sockets): which bytes a link drops, delays or loses; see fault-proxy.e2e-spec.ts for the sockets. */
describe('FaultNet rules', () => {
  it('names connections by the source address handed out, and leaves unknown ones by their address', () => {
    const net = new FaultNet();
    const a = net.sourceAddress('node-1');
    expect(net.sourceAddress('node-1')).toBe(a);
    expect(net.sourceAddress('node-2')).not.toBe(a);
    expect(net.sourceOf(a)).toBe('node-1');
    expect(net.sourceOf(`::ffff:${a}`)).toBe('node-1');
    expect(net.sourceOf('127.0.0.1')).toBe('127.0.0.1');
  });

  it('drops one direction only, cuts both, isolates from each peer, and heals everything', () => {
    const net = new FaultNet();
    const changes: number[] = [];
    net.on('changed', () => changes.push(1));
    net.drop('a', 'b');
    expect(net.link('a', 'b').verdict).toBe('drop');
    expect(net.link('b', 'a').verdict).toBe('pass');
    net.cut('c', 'd', 'reset');
    expect([net.link('c', 'd').verdict, net.link('d', 'c').verdict]).toEqual(['reset', 'reset']);
    net.isolate('x', ['x', 'y', 'z']);
    expect(['y', 'z'].flatMap((o) => [net.link('x', o).verdict, net.link(o, 'x').verdict])).toEqual(['drop', 'drop', 'drop', 'drop']);
    expect(net.link('y', 'z').verdict).toBe('pass');
    expect(net.link('x', 'x').verdict).toBe('pass');
    net.heal();
    expect(net.dropping).toBe(false);
    expect(net.link('a', 'b').verdict).toBe('pass');
    expect(changes.length).toBeGreaterThanOrEqual(4); // held bytes are looked at again on every change
  });

  it('slows only the links between the endpoints named, until lifted', () => {
    const net = new FaultNet();
    net.setSlow({ delayMs: 120, loss: 0.05, among: ['n1', 'n2'] });
    expect(net.link('n1', 'n2')).toEqual({ verdict: 'pass', delayMs: 120, loss: 0.05 });
    expect(net.link('n1', 'registry-1')).toEqual({ verdict: 'pass', delayMs: 0, loss: 0 });
    net.heal(); // lifts drops, not delay
    expect(net.link('n2', 'n1').delayMs).toBe(120);
    net.setSlow(undefined);
    expect(net.link('n2', 'n1').delayMs).toBe(0);
  });
});
