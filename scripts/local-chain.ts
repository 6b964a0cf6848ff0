// The local chain `npm start` runs when no CHAIN_RPC_URL is configured: anvil with its state under DATA_DIR, and
// the BiltenTicket contract deployed on it once (again only if the chain has lost it).
import fs from 'node:fs';
import path from 'node:path';
import { deployBiltenTicket } from '../providers/nft/ethers-minter';
import { startAnvil, type RunningAnvil } from './anvil';

/** Anvil's usual port; when it is taken, any free port will do (the address is written to LOCAL_CHAIN_FILE). */
const PREFERRED_PORT = 8545;

/** Where the local chain's address and contract are written, for `npm run nft:owner` and for the next start. */
export const LOCAL_CHAIN_FILE = 'local-chain.json';

/** What other processes need to mint on, or read from, the local chain. */
export interface LocalChainInfo {
  rpcUrl: string;
  chainId: number;
  contractAddress: string;
}

/** A running local chain with the ticket contract on it. */
export interface LocalChain extends LocalChainInfo {
  privateKey: string;
  stop(): Promise<void>;
}

/** Starts anvil on DATA_DIR state and makes sure the ticket contract is deployed on it. */
export async function startLocalChain(dataDir: string, log: (line: string) => void): Promise<LocalChain> {
  const stateFile = path.join(dataDir, 'anvil-state.json');
  let anvil: RunningAnvil;
  try {
    anvil = await startAnvil({ port: PREFERRED_PORT, stateFile });
  } catch {
    anvil = await startAnvil({ stateFile });
  }
  try {
    const chainId = Number(await rpc(anvil.rpcUrl, 'eth_chainId', []));
    const infoFile = path.join(dataDir, LOCAL_CHAIN_FILE);
    const previous = readLocalChainInfo(dataDir);
    let contractAddress = previous?.chainId === chainId ? previous.contractAddress : undefined;
    // The contract survives restarts in the state file; deleted or fresh state means deploying again.
    if (!contractAddress || (await rpc(anvil.rpcUrl, 'eth_getCode', [contractAddress, 'latest'])) === '0x') {
      contractAddress = await deployBiltenTicket({ rpcUrl: anvil.rpcUrl, privateKey: anvil.privateKey, chainId });
      log(`NFT: deployed BiltenTicket at ${contractAddress}`);
    }
    const info: LocalChainInfo = { rpcUrl: anvil.rpcUrl, chainId, contractAddress };
    fs.writeFileSync(infoFile, JSON.stringify(info, null, 2) + '\n');
    return { ...info, privateKey: anvil.privateKey, stop: anvil.stop };
  } catch (err) {
    await anvil.stop();
    throw err;
  }
}

/** The local chain `npm start` last ran, or null. */
export function readLocalChainInfo(dataDir: string): LocalChainInfo | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(dataDir, LOCAL_CHAIN_FILE), 'utf8')) as LocalChainInfo;
  } catch {
    return null;
  }
}

async function rpc(rpcUrl: string, method: string, params: unknown[]): Promise<string> {
  const response = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await response.json()) as { result?: string; error?: { message?: string } };
  if (typeof body.result !== 'string') throw new Error(`${method} failed: ${body.error?.message ?? 'no result'}`);
  return body.result;
}
