// What an instant card checkout asks of Temporal, as data: the like-for-like baseline runs exactly this, and
// test/bench-checkout-shape.workflow.test.ts checks it against a real run of the checkout workflow, so a change
// to the checkout (a step made local, an upsert dropped) fails there until this says the same.

/** Where a step runs: inside the workflow task that decides it (`local`), or as an activity task of its own. */
export type StepKind = 'local' | 'remote';

/** The steps of an instant card checkout, in order. */
export type CheckoutStep = 'reserve' | 'charge' | 'issue' | 'accrue';

/** What a checkout does in Temporal besides its steps. */
export interface CheckoutShape {
  /** Each step, in the order the checkout runs them, and how. */
  steps: Readonly<Record<CheckoutStep, StepKind>>;
  /** The step after which the order is PAID: the status upserts follow, and the buyer's update is answered. */
  paidAfter: CheckoutStep;
  /** Search-attribute upserts after the start (the status; the start itself carries the order's attributes). */
  searchAttributeUpserts: number;
  /** Memo upserts (the status, the fulfilment's child ids). */
  memoUpserts: number;
}

/** checkoutWorkflowV2 paying with an instant card, as workflows/checkout.ts runs it today; children left out. */
export const CHECKOUT_SHAPE: CheckoutShape = {
  steps: { reserve: 'local', charge: 'remote', issue: 'local', accrue: 'local' },
  paidAfter: 'issue',
  searchAttributeUpserts: 1,
  memoUpserts: 2,
};

/** The checkout's activity behind each step. */
export const CHECKOUT_STEP_ACTIVITIES: Readonly<Record<CheckoutStep, string>> = {
  reserve: 'reserveSeats',
  charge: 'chargeCard',
  issue: 'issueTickets',
  accrue: 'accrueOrderPoints',
};
