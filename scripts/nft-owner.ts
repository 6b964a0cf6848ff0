// `npm run nft:owner -- <ticketId | tokenId>`: reads who owns a ticket's NFT, straight from the chain. Uses
// CHAIN_RPC_URL and NFT_CONTRACT_ADDRESS when set, else the local chain `npm start` runs (DATA_DIR/local-chain.json).
import path from 'node:path';
import { Contract, JsonRpcProvider, Network, isError } from 'ethers';
import artifact from '../contracts/build/BiltenTicket.json';
import { loadConfig } from '../config';
import { ticketTokenId } from '../providers/nft/ethers-minter';
import { readLocalChainInfo } from './local-chain';

async function main(): Promise<void> {
  const arg = process.argv[2];
  if (!arg) {
    console.error('usage: npm run nft:owner -- <ticketId | tokenId>');
    process.exit(2);
  }
  const config = loadConfig();
  const chain =
    config.CHAIN_RPC_URL && config.NFT_CONTRACT_ADDRESS
      ? { rpcUrl: config.CHAIN_RPC_URL, contractAddress: config.NFT_CONTRACT_ADDRESS }
      : readLocalChainInfo(path.resolve(config.DATA_DIR));
  if (!chain) {
    console.error('no chain: set CHAIN_RPC_URL and NFT_CONTRACT_ADDRESS, or run `npm start` first');
    process.exit(2);
  }
  // A ticket id (tkt_...) names its token through the same derivation the minter uses; digits are a token id.
  const tokenId = /^(\d+|0x[0-9a-fA-F]+)$/.test(arg) ? BigInt(arg) : ticketTokenId(arg);
  // Asked once with a timeout: left to itself, ethers retries a dead endpoint forever instead of failing.
  const answer = await fetch(chain.rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
    signal: AbortSignal.timeout(5_000),
  });
  const network = Network.from(BigInt(((await answer.json()) as { result: string }).result));
  const provider = new JsonRpcProvider(chain.rpcUrl, network, { staticNetwork: network });
  try {
    const contract = new Contract(chain.contractAddress, artifact.abi, provider);
    try {
      const owner = (await contract.getFunction('ownerOf').staticCall(tokenId)) as string;
      const uri = (await contract.getFunction('tokenURI').staticCall(tokenId)) as string;
      console.log(
        JSON.stringify({ tokenId: tokenId.toString(), owner, tokenUri: uri, contract: chain.contractAddress }),
      );
    } catch (err) {
      if (isError(err, 'CALL_EXCEPTION') && err.revert?.name === 'ERC721NonexistentToken') {
        console.log(JSON.stringify({ tokenId: tokenId.toString(), owner: null, minted: false }));
        process.exitCode = 1;
        return;
      }
      throw err;
    }
  } finally {
    provider.destroy();
  }
}

main().catch((err) => {
  console.error('[nft:owner]', err instanceof Error ? err.message : err);
  process.exit(1);
});
