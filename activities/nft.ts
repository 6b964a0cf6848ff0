import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Db } from '../db';
import type { MintTicketNftInput, MintTicketNftResult } from '../domain';
import { ticketTokenId } from '../providers/nft/ethers-minter';
import type { Minter } from '../providers/nft/ports';

/** What the NFT activities need: the tickets table and a Minter on the configured chain. */
export interface NftActivityDeps {
  db: Db;
  minter: Minter;
  /** Public URL of the API; each token's metadata URI points at it. */
  publicBaseUrl: string;
  /** How often a running mint tells Temporal it is alive. Default 5 s. */
  heartbeatIntervalMs?: number;
}

/** The metadata URI of a ticket's token, served by `GET /v1/tickets/:ticketId/nft`. */
export function ticketTokenUri(publicBaseUrl: string, ticketId: string): string {
  return `${publicBaseUrl}/v1/tickets/${encodeURIComponent(ticketId)}/nft`;
}

/** Activities that put tickets on-chain as ERC-721 tokens and record where each one stands. */
export function createNftActivities(deps: NftActivityDeps) {
  const { db, minter } = deps;

  /**
   * Makes sure one ticket exists on-chain, owned by the wallet, and records it on the ticket. Idempotent: the
   * token id derives from the ticket id, and the minter looks on-chain before it sends, so a retry after a
   * lost answer finds the token instead of minting it twice. Waits for the receipt, heartbeating meanwhile;
   * a chain that is down fails the attempt quickly and the retry policy backs off.
   */
  async function mintTicketNft(input: MintTicketNftInput): Promise<MintTicketNftResult> {
    const ticket = await db('tickets').where({ id: input.ticketId }).first('id', 'nft_status', 'nft_tx_hash');
    if (!ticket) throw ApplicationFailure.nonRetryable(`no ticket ${input.ticketId}`, 'NftTicketMissing');
    const tokenId = ticketTokenId(input.ticketId);

    const context = currentContext();
    const beat = setInterval(
      () => context?.heartbeat({ tokenId: tokenId.toString() }),
      deps.heartbeatIntervalMs ?? 5_000,
    );
    let result;
    try {
      context?.heartbeat({ tokenId: tokenId.toString() });
      result = await minter.ensureMinted({
        tokenId,
        to: input.walletAddress,
        tokenUri: ticketTokenUri(deps.publicBaseUrl, input.ticketId),
      });
    } catch (err) {
      // Kept on the ticket so support can see why it is still PENDING; the retry policy decides what happens next.
      const message = redactUrls(err instanceof Error ? err.message : String(err)).slice(0, 500);
      await db('tickets')
        .where({ id: input.ticketId, nft_status: 'PENDING' })
        .update({ nft_error: message })
        .catch(() => undefined);
      throw ApplicationFailure.create({ message, type: 'NftMintFailed', nonRetryable: false });
    } finally {
      clearInterval(beat);
    }

    await db('tickets')
      .where({ id: input.ticketId })
      .update({
        nft_status: 'MINTED',
        nft_token_id: result.tokenId,
        // A token found already minted keeps the hash of the mint that made it, when we recorded one.
        nft_tx_hash: result.txHash ?? ticket.nft_tx_hash ?? null,
        nft_minted_at: db.raw('coalesce(nft_minted_at, now())'),
        nft_error: null,
      });
    return { ticketId: input.ticketId, ...result };
  }

  /** Records mints that gave up; tickets already MINTED are left alone. The order is untouched either way. */
  async function markNftFailed(input: { ticketIds: string[]; reason: string }): Promise<void> {
    if (input.ticketIds.length === 0) return;
    await db('tickets')
      .whereIn('id', input.ticketIds)
      .whereNot({ nft_status: 'MINTED' })
      .update({ nft_status: 'FAILED', nft_error: input.reason.slice(0, 500) });
  }

  return { mintTicketNft, markNftFailed };
}

/** RPC URLs often carry an API key in their path, query or user info; errors keep only the origin. */
function redactUrls(text: string): string {
  return text.replace(/\b(https?|wss?):\/\/(?:[^@/\s"']*@)?([^/?#\s"']+)[^\s"']*/g, '$1://$2');
}

/** The activity context, or undefined when called outside an activity (a plain test call). */
function currentContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}
