// What an instant card checkout asks of Temporal, as data: the like-for-like baseline runs exactly this, and
// test/bench-checkout-shape.workflow.test.ts checks it against a real run of the checkout workflow, so a change
// to the checkout (a step made local, an upsert dropped) fails there until this says the same.

/** Where a step runs: inside the workflow task that decides it (`local`), or as an activity task of its own. */
export type StepKind = 'local' | 'remote';

/** The steps of an instant card checkout, in order. */
export type CheckoutStep = 'reserve' | 'charge' | 'issue' | 'confirm' | 'accrue';

/** What a checkout does in Temporal besides its steps. */
export interface CheckoutShape {
  /** The checkout workflow type the API starts, whose shape this is. */
  workflowType: string;
  /** Each step, in the order the checkout runs them, and how. */
  steps: Readonly<Partial<Record<CheckoutStep, StepKind>>>;
  /** The step after which the order is PAID: the status upserts follow, and the buyer's update is answered. */
  paidAfter: CheckoutStep;
  /** Search-attribute upserts after the start (the status; the start itself carries the order's attributes). */
  searchAttributeUpserts: number;
  /** Memo upserts (the status, the fulfilment's child ids). */
  memoUpserts: number;
  /**
   * A timer right after the buyer's answer: the confirmation runs in the next workflow task, because a task that
   * runs local activities is only answered when they finish, and the buyer must not wait for the mail provider.
   */
  timerAfterPaid: boolean;
}

/** The checkout paying with an instant card, as workflows/checkout.ts runs it today; children left out. */
export const CHECKOUT_SHAPE: CheckoutShape = {
  workflowType: 'checkoutWorkflowV3',
  steps: { reserve: 'local', charge: 'local', issue: 'local', confirm: 'local', accrue: 'local' },
  paidAfter: 'issue',
  searchAttributeUpserts: 1,
  memoUpserts: 0,
  timerAfterPaid: true,
};

/** The checkout's activity behind each step. */
export const CHECKOUT_STEP_ACTIVITIES: Readonly<Record<CheckoutStep, string>> = {
  reserve: 'reserveSeats',
  charge: 'chargeCard',
  issue: 'issueTickets',
  confirm: 'sendMessage',
  accrue: 'accrueOrderPoints',
};

/** The activity steps a checkout of this shape records, in order, as `activitySteps` (bench/actions.ts) reads them. */
export function expectedActivitySteps(shape: CheckoutShape): Array<{ activityType: string; kind: StepKind }> {
  return (Object.entries(shape.steps) as Array<[CheckoutStep, StepKind]>).map(([step, kind]) => ({
    activityType: CHECKOUT_STEP_ACTIVITIES[step],
    kind,
  }));
}

/**
 * How a checkout the bench saw run differs from a shape, as sentences for the summary; none when it matches. The
 * bench checks the sale's own checkout this way, so a floor that stopped being like for like says so in the run.
 */
export function differencesFromShape(
  ran: { workflowType: string; steps: Array<{ activityType: string; kind: StepKind }> },
  shape: CheckoutShape,
): string[] {
  const list = (steps: Array<{ activityType: string; kind: StepKind }>) =>
    steps.map((s) => `${s.activityType} ${s.kind}`).join(', ');
  const differences: string[] = [];
  if (ran.workflowType !== shape.workflowType)
    differences.push(`the sale ran ${ran.workflowType}; CHECKOUT_SHAPE describes ${shape.workflowType}`);
  if (list(ran.steps) !== list(expectedActivitySteps(shape)))
    differences.push(
      `the sale's checkout ran ${list(ran.steps)}; CHECKOUT_SHAPE says ${list(expectedActivitySteps(shape))}`,
    );
  if (differences.length)
    differences.push('the like-for-like baseline is not like for like until bench/checkout-shape.ts follows');
  return differences;
}
