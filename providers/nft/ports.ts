/** The outcome of making sure one ticket exists on-chain as an NFT. */
export interface MintResult {
  tokenId: string;
  /** The mint transaction; null when the token already existed and nothing was sent. */
  txHash: string | null;
  owner: string;
  alreadyMinted: boolean;
}

/** Mints ERC-721 ticket tokens. Idempotent: minting a token id that exists is a no-op. */
export interface Minter {
  readonly contractAddress: string;
  /** Mints `tokenId` to `to` unless it exists, waiting for the receipt. */
  ensureMinted(input: { tokenId: bigint; to: string; tokenUri: string }): Promise<MintResult>;
  /** The current owner, or null when the token does not exist. */
  ownerOf(tokenId: bigint): Promise<string | null>;
}
