// NFT tickets: the types the checkout, the mint workflow, its activities and the API share.

/** Task queue of the NFT mint workflow and its activities; only workers with a chain configured poll it. */
export const NFT_TASK_QUEUE = 'nft';

/** Input of the mint workflow: every ticket of one paid order, minted to the wallet the buyer gave. */
export interface MintTicketNftsInput {
  orderId: string;
  walletAddress: string;
  ticketIds: string[];
}

/** How the mints of one order ended. */
export interface MintTicketNftsResult {
  minted: string[];
  failed: string[];
}

/** Input of the mint activity: one ticket to one wallet. */
export interface MintTicketNftInput {
  ticketId: string;
  walletAddress: string;
}

/** Result of the mint activity. `txHash` is null when the token already existed and nothing was sent. */
export interface MintTicketNftResult {
  ticketId: string;
  tokenId: string;
  txHash: string | null;
  owner: string;
  alreadyMinted: boolean;
}

/** One mint workflow per order: its id is the order's business key. */
export function nftMintWorkflowId(orderId: string): string {
  return `nft-mint-${orderId}`;
}
