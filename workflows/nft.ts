import {
  log,
  proxyActivities,
  rootCause,
  setHandler,
  upsertMemo,
  type ActivityOptions,
} from '@temporalio/workflow';
import { statusQuery, type MintTicketNftsInput, type MintTicketNftsResult } from '../domain';
import type { createNftActivities } from '../activities/nft';

/**
 * A mint waits for its receipt and heartbeats meanwhile. A dead chain fails each attempt fast; attempts back off
 * to one every 10 minutes and give up after 6 hours, when the ticket is marked FAILED (support can mint again).
 */
const mint: ActivityOptions = {
  startToCloseTimeout: '3m',
  heartbeatTimeout: '30s',
  scheduleToCloseTimeout: '6h',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10m' },
};
/** Recording the outcome in Postgres: quick, retried until it lands. */
const dbWrite: ActivityOptions = {
  startToCloseTimeout: '15s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '10s' },
};

const chain = proxyActivities<ReturnType<typeof createNftActivities>>(mint);
const records = proxyActivities<ReturnType<typeof createNftActivities>>(dbWrite);

/**
 * Mints every ticket of a paid order as an ERC-721 token to the buyer's wallet. Runs as an abandoned child of
 * the checkout on its own task queue, so the order is PAID before any of this starts and whatever the chain
 * does never reaches it. Progress shows in the memo (`nft: { total, minted, failed }`).
 */
export async function mintTicketNftsWorkflow(input: MintTicketNftsInput): Promise<MintTicketNftsResult> {
  const result: MintTicketNftsResult = { minted: [], failed: [] };
  const progress = () =>
    upsertMemo({
      nft: { total: input.ticketIds.length, minted: result.minted.length, failed: result.failed.length },
    });
  let done = false;
  setHandler(statusQuery, () => ({
    status: !done ? 'MINTING' : result.failed.length > 0 ? 'FAILED' : 'MINTED',
    orderId: input.orderId,
    total: input.ticketIds.length,
    minted: result.minted.length,
    failed: result.failed.length,
  }));
  progress();
  // The minter sends one transaction at a time per key anyway; running the tickets together overlaps the waits.
  await Promise.all(
    input.ticketIds.map(async (ticketId) => {
      try {
        await chain.mintTicketNft({ ticketId, walletAddress: input.walletAddress });
        result.minted.push(ticketId);
      } catch (err) {
        const reason = rootCause(err) ?? String(err);
        log.warn('NFT mint gave up', { orderId: input.orderId, ticketId, reason });
        await records.markNftFailed({ ticketIds: [ticketId], reason });
        result.failed.push(ticketId);
      }
      progress();
    }),
  );
  done = true;
  return result;
}
