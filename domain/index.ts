/** Shared business types and pure rules, imported by the API, workflows and activities alike. */
export * from './money';
export * from './order-status';
export * from './failures';
export * from './pricing';
export * from './checkout';
export * from './fees';
export * from './money-format';
export * from './nft';
export * from './notifications';
export * from './ledger';
export * from './payouts';
export * from './reconciliation';
export * from './refunds';
export * from './scanning';
export * from './limits';
export * from './support';
