import fc from 'fast-check';
import { attendanceDeltas, settleTicketScans, type TicketScan } from '../domain';

const at = (minute: number) => new Date(Date.UTC(2027, 5, 1, 20, minute));
const scan = (scanId: string, minute: number, gate: string): TicketScan => ({
  scanId,
  scannedAt: at(minute),
  gate,
});

describe('settleTicketScans', () => {
  test('when two gates admitted one ticket, then the earlier is ADMITTED and the later a DUPLICATE naming it', () => {
    const settled = settleTicketScans([scan('b', 5, 'South'), scan('a', 2, 'North')], null);
    expect(settled).toEqual([
      { scanId: 'a', result: 'ADMITTED', admissionScanId: null, admissionGate: null },
      { scanId: 'b', result: 'DUPLICATE', admissionScanId: 'a', admissionGate: 'North' },
    ]);
  });

  test('when scans are settled in any order, then every scan gets the same result', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ id: fc.stringMatching(/^[a-f0-9]{4,8}$/), minute: fc.nat(50) }), {
          selector: (s) => s.id,
          minLength: 1,
          maxLength: 8,
        }),
        fc.option(fc.nat(50), { nil: null }),
        (scans, voidMinute) => {
          const all = scans.map((s) => scan(s.id, s.minute, `g${s.minute % 3}`));
          const voidedAt = voidMinute === null ? null : at(voidMinute);
          const key = (r: ReturnType<typeof settleTicketScans>) =>
            [...r].sort((x, y) => (x.scanId < y.scanId ? -1 : 1));
          expect(key(settleTicketScans([...all].reverse(), voidedAt))).toEqual(
            key(settleTicketScans(all, voidedAt)),
          );
          expect(
            settleTicketScans(all, voidedAt).filter((s) => s.result === 'ADMITTED').length,
          ).toBeLessThanOrEqual(1);
        },
      ),
    );
  });

  test('when a ticket was void at a scan, then that scan is ADMITTED_WHILE_VOID and earlier ones are unchanged', () => {
    const settled = settleTicketScans(
      [scan('a', 1, 'North'), scan('b', 10, 'South'), scan('c', 20, 'East')],
      at(10),
    );
    expect(settled.map((s) => [s.scanId, s.result])).toEqual([
      ['a', 'ADMITTED'],
      ['b', 'ADMITTED_WHILE_VOID'],
      ['c', 'ADMITTED_WHILE_VOID'],
    ]);
  });

  test('when two scans share a millisecond, then the scan id decides, the same way every time', () => {
    const settled = settleTicketScans([scan('z', 3, 'A'), scan('m', 3, 'B')], null);
    expect(settled[0]).toMatchObject({ scanId: 'm', result: 'ADMITTED' });
  });
});

describe('attendanceDeltas', () => {
  test('when a late, earlier scan takes over the admission, then admitted moves gate and duplicates grow by one', () => {
    const deltas = attendanceDeltas([
      { ticketTypeId: 'tt_ga', gate: 'South', from: 'ADMITTED', to: 'DUPLICATE' },
      { ticketTypeId: 'tt_ga', gate: 'North', from: null, to: 'ADMITTED' },
    ]);
    expect(deltas).toEqual([
      { dimension: 'GATE', key: 'North', admitted: 1, admittedWhileVoid: 0, duplicates: 0 },
      { dimension: 'GATE', key: 'South', admitted: -1, admittedWhileVoid: 0, duplicates: 1 },
      { dimension: 'TICKET_TYPE', key: 'tt_ga', admitted: 0, admittedWhileVoid: 0, duplicates: 1 },
    ]);
  });

  test('when nothing changed or a scan is UNKNOWN, then no counter moves', () => {
    expect(
      attendanceDeltas([
        { ticketTypeId: 'tt_ga', gate: 'North', from: 'ADMITTED', to: 'ADMITTED' },
        { ticketTypeId: 'tt_ga', gate: 'North', from: null, to: 'UNKNOWN' },
      ]),
    ).toEqual([]);
  });
});
