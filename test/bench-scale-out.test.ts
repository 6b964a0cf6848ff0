import { componentKind, cpuMsPerOrderByKind, scaleOutFigures, type SaleCost } from '../bench/scale-out';

const oneEach: SaleCost = {
  paidCheckouts: 200,
  windowSeconds: 30,
  cpuSeconds: { temporal: 20, postgres: 4, worker: 16, api: 4, 'baseline-worker': 1, bench: 2 },
  historyEventsPerOrder: 20,
};

describe('the scale-out check', () => {
  test('when processes of a kind are numbered, then they count as that kind', () => {
    expect(['worker', 'worker-2', 'api-2', 'temporal-history'].map(componentKind)).toEqual([
      'worker',
      'worker',
      'api',
      'temporal-history',
    ]);
  });

  test('when two workers and two APIs ran, then their CPU per order is added up by kind, without the bench', () => {
    const twoEach = {
      ...oneEach,
      cpuSeconds: { temporal: 20, postgres: 4, worker: 9, 'worker-2': 9, api: 2, 'api-2': 3 },
    };
    expect(cpuMsPerOrderByKind(twoEach)).toEqual({ temporal: 100, postgres: 20, worker: 90, api: 25 });
    expect(cpuMsPerOrderByKind(oneEach)).toEqual({ temporal: 100, postgres: 20, worker: 80, api: 20 });
  });

  test('when every order costs the same with two processes each, then the ratio is 1 whatever the throughput', () => {
    const slower: SaleCost = {
      paidCheckouts: 100,
      windowSeconds: 30,
      cpuSeconds: { temporal: 10, postgres: 2, worker: 4, 'worker-2': 4, api: 1, 'api-2': 1, bench: 1 },
      historyEventsPerOrder: 20,
    };
    const figures = scaleOutFigures(oneEach, slower);
    expect(figures.scaleOutRatio).toBe(1);
    expect(figures.throughputRatio).toBe(0.5);
    expect(figures.checkoutsPerMinute).toEqual({ one: 400, two: 200 });
  });

  test('when each order costs a quarter more with two processes each, then the ratio is 0.8', () => {
    const costlier = { ...oneEach, cpuSeconds: { temporal: 25, postgres: 5, worker: 10, 'worker-2': 10, api: 5 } };
    expect(scaleOutFigures(oneEach, costlier).scaleOutRatio).toBe(0.8);
  });
});
