import {
  balanceIn,
  canTransitionPayout,
  financeCsv,
  financeFromLedger,
  isBalanced,
  payoutPaidLines,
  payoutReserveLines,
  payoutReversalLines,
  postingKind,
  refundDebtLines,
  saleLedgerLines,
  type LedgerLine,
  type LedgerSum,
  type PostingKind,
} from '../domain';

const ORG = 'org_1';
const NOW = new Date('2026-12-10T00:00:00Z');

/** Sums postings as the database query does: by currency, event, kind and account class. */
function sums(
  postings: Array<{ transactionId: string; eventId?: string; endsAt?: string; lines: LedgerLine[] }>,
): LedgerSum[] {
  const out = new Map<string, LedgerSum>();
  for (const p of postings) {
    for (const l of p.lines) {
      const kind = postingKind(p.transactionId) as PostingKind;
      const accountClass = l.account.split(':')[0]!;
      const key = [l.currency, p.eventId ?? '', kind, accountClass].join('|');
      const s = out.get(key) ?? {
        currency: l.currency,
        eventId: p.eventId ?? null,
        eventEndsAt: p.endsAt ?? null,
        kind,
        accountClass,
        amountMinor: 0,
      };
      s.amountMinor += l.amountMinor;
      out.set(key, s);
    }
  }
  return [...out.values()];
}

const sale = (orderId: string, eventId: string, endsAt: string, amountMinor: number) => ({
  transactionId: `sale:${orderId}`,
  eventId,
  endsAt,
  lines: saleLedgerLines({ total: { amountMinor, currency: 'USD' }, organizerId: ORG, provider: 'stripe' }),
});
/** A refund posted as the refunds flow posts it: the provider pays back, organizer and platform give up their shares. */
const refund = (refundId: string, eventId: string, endsAt: string, amountMinor: number, feeMinor: number) => ({
  transactionId: `refund:${refundId}`,
  eventId,
  endsAt,
  lines: [
    { account: 'provider_clearing:stripe', amountMinor: -amountMinor, currency: 'USD' },
    { account: `organizer_payable:${ORG}`, amountMinor: amountMinor - feeMinor, currency: 'USD' },
    { account: 'platform_revenue', amountMinor: feeMinor, currency: 'USD' },
  ],
});

describe('payout postings', () => {
  test('when a payout is reserved, paid or reversed, then every posting balances and a reversal undoes its reservation', () => {
    const reserve = payoutReserveLines({
      organizerId: ORG,
      currency: 'USD',
      amountMinor: 900,
      debtSettledMinor: 100,
    });
    expect(reserve).toEqual([
      { account: `organizer_payable:${ORG}`, amountMinor: 1000, currency: 'USD' },
      { account: `payouts_in_transit:${ORG}`, amountMinor: -900, currency: 'USD' },
      { account: `organizer_debt:${ORG}`, amountMinor: -100, currency: 'USD' },
    ]);
    const paid = payoutPaidLines({ organizerId: ORG, currency: 'USD', amountMinor: 900 });
    const reversed = payoutReversalLines(reserve);
    for (const p of [reserve, paid, reversed]) expect(isBalanced(p)).toBe(true);
    expect(isBalanced([...reserve, ...reversed])).toBe(true);
    expect(reversed).toEqual(reserve.map((l) => ({ ...l, amountMinor: -l.amountMinor })));
  });

  test('when a refund leaves the payable covered, then no debt is recorded; when it does not, the shortfall becomes debt', () => {
    expect(refundDebtLines({ organizerId: ORG, currency: 'USD', payableBalanceMinor: 0 })).toEqual([]);
    expect(refundDebtLines({ organizerId: ORG, currency: 'USD', payableBalanceMinor: 15 })).toEqual([]);
    const debt = refundDebtLines({ organizerId: ORG, currency: 'USD', payableBalanceMinor: -2330 });
    expect(debt).toEqual([
      { account: `organizer_payable:${ORG}`, amountMinor: -2330, currency: 'USD' },
      { account: `organizer_debt:${ORG}`, amountMinor: 2330, currency: 'USD' },
    ]);
    expect(isBalanced(debt)).toBe(true);
  });

  test("when payout statuses change, then only the state machine's moves are allowed", () => {
    expect(canTransitionPayout('PENDING', 'IN_TRANSIT')).toBe(true);
    expect(canTransitionPayout('AWAITING_APPROVAL', 'IN_TRANSIT')).toBe(true);
    expect(canTransitionPayout('IN_TRANSIT', 'PAID')).toBe(true);
    expect(canTransitionPayout('PAID', 'FAILED')).toBe(false);
    expect(canTransitionPayout('FAILED', 'IN_TRANSIT')).toBe(false);
    expect(canTransitionPayout('PENDING', 'PAID')).toBe(false);
  });
});

describe('balance and finance from the ledger', () => {
  const ended = '2026-12-01T00:00:00Z';
  const endsLater = '2026-12-20T00:00:00Z';

  test('when one event ended past the delay and one has not, then its net is available and the other pending', () => {
    const f = financeFromLedger(sums([sale('o1', 'e1', ended, 5000), sale('o2', 'e2', endsLater, 1000)]), NOW, 7);
    expect(balanceIn(f, 'USD')).toMatchObject({ availableMinor: 4720, pendingMinor: 920 });
    expect(f[0]).toMatchObject({ grossMinor: 6000, feesMinor: 360, netMinor: 5640 });
  });

  test('when the delay is 0, then an event is available the moment it ends; with 7 days it is still pending', () => {
    const s = sums([sale('o1', 'e1', '2026-12-09T23:59:00Z', 5000)]);
    expect(balanceIn(financeFromLedger(s, NOW, 0), 'USD').availableMinor).toBe(4720);
    expect(balanceIn(financeFromLedger(s, NOW, 7), 'USD')).toMatchObject({
      availableMinor: 0,
      pendingMinor: 4720,
    });
  });

  test('when a refund comes after the payout, then the debt is recorded, shown, and the next payout deducts it', () => {
    // Event 1 sells 5000 (net 4720) and is paid out in full.
    const reserve1 = payoutReserveLines({
      organizerId: ORG,
      currency: 'USD',
      amountMinor: 4720,
      debtSettledMinor: 0,
    });
    const postings = [
      sale('o1', 'e1', ended, 5000),
      { transactionId: 'payout:p1', lines: reserve1 },
      {
        transactionId: 'payout:p1:paid',
        lines: payoutPaidLines({ organizerId: ORG, currency: 'USD', amountMinor: 4720 }),
      },
      // Then one ticket of 2500 is refunded with its proportional fee of 140: the organizer's share is 2360.
      refund('r1', 'e1', ended, 2500, 140),
    ];
    const payableAfterRefund = -postings
      .flatMap((p) => p.lines)
      .filter((l) => l.account === `organizer_payable:${ORG}`)
      .reduce((n, l) => n + l.amountMinor, 0);
    expect(payableAfterRefund).toBe(-2360);
    postings.push({
      transactionId: 'refund:r1:debt',
      lines: refundDebtLines({ organizerId: ORG, currency: 'USD', payableBalanceMinor: payableAfterRefund }),
    });
    let f = financeFromLedger(sums(postings), NOW, 7);
    expect(f[0]).toMatchObject({
      netMinor: 2360,
      paidOutMinor: 4720,
      debtMinor: 2360,
      availableMinor: 0,
      pendingMinor: 0,
    });
    expect(f[0]!.netMinor).toBe(
      f[0]!.paidOutMinor + f[0]!.inTransitMinor + f[0]!.availableMinor + f[0]!.pendingMinor - f[0]!.debtMinor,
    );

    // A later event sells 10000 (net 9470): the next payout is 9470 - 2360 = 7110, and the debt is settled.
    postings.push(sale('o2', 'e2', ended, 10000));
    f = financeFromLedger(sums(postings), NOW, 7);
    expect(balanceIn(f, 'USD')).toMatchObject({ availableMinor: 7110, debtMinor: 2360 });
    postings.push({
      transactionId: 'payout:p2',
      lines: payoutReserveLines({ organizerId: ORG, currency: 'USD', amountMinor: 7110, debtSettledMinor: 2360 }),
    });
    postings.push({
      transactionId: 'payout:p2:paid',
      lines: payoutPaidLines({ organizerId: ORG, currency: 'USD', amountMinor: 7110 }),
    });
    f = financeFromLedger(sums(postings), NOW, 7);
    expect(f[0]).toMatchObject({
      netMinor: 11830,
      paidOutMinor: 11830,
      debtMinor: 0,
      availableMinor: 0,
      pendingMinor: 0,
    });
    expect(isBalanced(postings.flatMap((p) => p.lines))).toBe(true);
  });

  test('when a refund after a payout is covered by pending money, then no debt arises and pending shrinks', () => {
    const postings = [
      sale('o1', 'e1', ended, 5000),
      {
        transactionId: 'payout:p1',
        lines: payoutReserveLines({ organizerId: ORG, currency: 'USD', amountMinor: 4720, debtSettledMinor: 0 }),
      },
      sale('o2', 'e2', endsLater, 10000),
      refund('r1', 'e1', ended, 2500, 140),
    ];
    const f = financeFromLedger(sums(postings), NOW, 7);
    expect(f[0]).toMatchObject({
      inTransitMinor: 4720,
      availableMinor: 0,
      pendingMinor: 9470 - 2360,
      debtMinor: 0,
    });
  });

  test('when the report is asked for as CSV, then there is a row per event and a total row per currency', () => {
    const f = financeFromLedger(sums([sale('o1', 'e1', ended, 5000)]), NOW, 7);
    expect(financeCsv(f).split('\r\n')).toEqual([
      'currency,scope,eventId,grossMinor,feesMinor,refundsMinor,netMinor,paidOutMinor,inTransitMinor,debtMinor,availableMinor,pendingMinor',
      'USD,event,e1,5000,280,0,4720,,,,,',
      'USD,total,,5000,280,0,4720,0,0,0,4720,0',
      '',
    ]);
  });
});
