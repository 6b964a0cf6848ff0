// The real Minter: BiltenTicket (contracts/BiltenTicket.sol) on any EVM JSON-RPC endpoint, through ethers v6.
// Minting has no provider-side idempotency key, so the token id is the key: look before acting, and treat
// "the id exists" after a lost race as success.
import {
  Contract,
  ContractFactory,
  FetchRequest,
  Interface,
  JsonRpcProvider,
  Network,
  Wallet,
  ZeroAddress,
  getAddress,
  id,
  isError,
  type InterfaceAbi,
  type TransactionResponse,
} from 'ethers';
import artifact from '../../contracts/build/BiltenTicket.json';
import type { MintResult, Minter } from './ports';

/** Where the ticket contract lives and who may mint on it. */
export interface EthersMinterConfig {
  rpcUrl: string;
  /** Key of the contract owner; it pays gas for every mint. */
  privateKey: string;
  contractAddress: string;
  /** Chain id of the endpoint; omitted means asked from the node on first use (and again after a failure). */
  chainId?: number;
  /** Longest wait for any single JSON-RPC answer. Default 10 s. */
  requestTimeoutMs?: number;
  /** Longest wait from sending a mint to its receipt. Default 120 s. */
  receiptTimeoutMs?: number;
  /** How often to poll for a receipt, or for a rival's pending mint to land. Default 1 s; anvil rarely needs it. */
  pollingIntervalMs?: number;
}

/** A Minter that also releases its connection when a worker shuts down. */
export interface EthersMinter extends Minter {
  /** Stops any polling; the minter must not be used afterwards. */
  close(): void;
}

/** What deployBiltenTicket needs: an endpoint and a funded key that becomes the only minter. */
export interface DeployBiltenTicketInput {
  rpcUrl: string;
  privateKey: string;
  chainId?: number;
  requestTimeoutMs?: number;
  receiptTimeoutMs?: number;
}

const abi = artifact.abi as InterfaceAbi;
const ticketInterface = new Interface(abi);

// OpenZeppelin's _mint of an existing id reverts with ERC721InvalidSender(address(0)).
function isTokenAlreadyMinted(err: unknown): boolean {
  if (!isError(err, 'CALL_EXCEPTION') || !err.data) return false;
  try {
    const decoded = ticketInterface.parseError(err.data);
    return decoded?.name === 'ERC721InvalidSender' && decoded.args[0] === ZeroAddress;
  } catch {
    return false;
  }
}

/**
 * The ERC-721 token id of a ticket: keccak256 of the ticket id's UTF-8 bytes, as a uint256.
 * Deterministic so that every retry of a mint targets the same id; never change it, or issued tickets
 * would be minted a second time under new ids.
 */
export function ticketTokenId(ticketId: string): bigint {
  if (ticketId.length === 0) throw new Error('ticketTokenId: empty ticket id');
  return BigInt(id(ticketId));
}

/** Deploys a fresh BiltenTicket owned by `privateKey`'s address and returns the contract address. */
export async function deployBiltenTicket(input: DeployBiltenTicketInput): Promise<string> {
  const provider = await connect(input);
  try {
    const wallet = new Wallet(input.privateKey, provider);
    const contract = await new ContractFactory(abi, artifact.bytecode, wallet).deploy(wallet.address);
    const deployment = contract.deploymentTransaction();
    if (!deployment) throw new Error('deployBiltenTicket: no deployment transaction');
    await deployment.wait(1, input.receiptTimeoutMs ?? 120_000);
    return getAddress(await contract.getAddress());
  } finally {
    provider.destroy();
  }
}

/** Builds the Minter; nothing touches the network until the first call. */
export function createEthersMinter(config: EthersMinterConfig): EthersMinter {
  const contractAddress = getAddress(config.contractAddress);
  const receiptTimeoutMs = config.receiptTimeoutMs ?? 120_000;
  const pollingIntervalMs = config.pollingIntervalMs ?? 1_000;

  // Connected lazily and retried on failure, so a node that is down at boot delays mints instead of breaking them.
  let session: Promise<{ provider: JsonRpcProvider; wallet: Wallet; contract: Contract }> | null = null;
  let closed = false;
  const connected = (): Promise<{ provider: JsonRpcProvider; wallet: Wallet; contract: Contract }> => {
    if (closed) return Promise.reject(new Error('minter is closed'));
    session ??= connect(config).then(
      (provider) => {
        const wallet = new Wallet(config.privateKey, provider);
        return { provider, wallet, contract: new Contract(contractAddress, abi, wallet) };
      },
      (err: unknown) => {
        session = null;
        throw err;
      },
    );
    return session;
  };

  const ownerOf = async (tokenId: bigint): Promise<string | null> => {
    const { contract } = await connected();
    try {
      return getAddress((await contract.getFunction('ownerOf').staticCall(tokenId)) as string);
    } catch (err) {
      if (isError(err, 'CALL_EXCEPTION') && err.revert?.name === 'ERC721NonexistentToken') return null;
      throw err;
    }
  };

  // Broadcasts one at a time and takes the nonce from the node's pending count each time. ethers' NonceManager
  // would be faster but counts a nonce as used before the transaction is built, so one mint that fails to
  // estimate (the lost race below) leaves a gap that stalls every later mint from this key.
  let sendQueue: Promise<unknown> = Promise.resolve();
  const sendMint = (input: { tokenId: bigint; to: string; tokenUri: string }): Promise<TransactionResponse> => {
    const send = async (): Promise<TransactionResponse> => {
      const { wallet, contract } = await connected();
      const nonce = await wallet.getNonce('pending');
      return (await contract
        .getFunction('mint')
        .send(input.to, input.tokenId, input.tokenUri, { nonce })) as TransactionResponse;
    };
    const sent = sendQueue.then(send, send);
    sendQueue = sent.catch(() => undefined);
    return sent;
  };

  // Polls until the token has an owner; used when a mint for the id is known to be pending in someone's hands.
  const waitForOwner = async (tokenId: bigint, deadline: number): Promise<string | null> => {
    for (;;) {
      const owner = await ownerOf(tokenId).catch(() => null);
      if (owner || closed || Date.now() >= deadline) return owner;
      await new Promise((resolve) => setTimeout(resolve, pollingIntervalMs));
    }
  };

  const mintOnce = async (input: { tokenId: bigint; to: string; tokenUri: string }): Promise<MintResult> => {
    const tokenId = input.tokenId.toString();
    const deadline = Date.now() + receiptTimeoutMs;
    const existing = await ownerOf(input.tokenId);
    if (existing) return { tokenId, txHash: null, owner: existing, alreadyMinted: true };
    try {
      const tx = await sendMint(input);
      const receipt = await tx.wait(1, Math.max(1, deadline - Date.now()));
      if (!receipt) throw new Error(`mint ${tx.hash} has no receipt`);
      return { tokenId, txHash: receipt.hash, owner: getAddress(input.to), alreadyMinted: false };
    } catch (err) {
      // A lost race: another worker, or an earlier attempt of ours whose answer was lost, minted the id between
      // our look and our act. Nodes that estimate gas on the latest block (geth) let our mint go out and revert
      // on-chain, so the winner is already visible. Nodes that estimate on the pending block (anvil) refuse our
      // mint while the winner is still unmined, so wait for the winner to land.
      const owner = isTokenAlreadyMinted(err)
        ? await waitForOwner(input.tokenId, deadline)
        : await ownerOf(input.tokenId).catch(() => null);
      if (owner) return { tokenId, txHash: null, owner, alreadyMinted: true };
      throw err;
    }
  };

  // Concurrent calls for one token id in this process wait for each other instead of racing on-chain, where
  // the loser would pay gas for a reverted transaction.
  const inFlight = new Map<string, Promise<MintResult>>();

  return {
    contractAddress,
    ownerOf,
    async ensureMinted(input) {
      const key = input.tokenId.toString();
      for (let running = inFlight.get(key); running; running = inFlight.get(key)) {
        await running.catch(() => undefined);
      }
      const attempt = mintOnce(input);
      inFlight.set(key, attempt);
      try {
        return await attempt;
      } finally {
        if (inFlight.get(key) === attempt) inFlight.delete(key);
      }
    },
    close() {
      closed = true;
      void session?.then(({ provider }) => provider.destroy()).catch(() => undefined);
      session = null;
    },
  };
}

// A provider pinned to one chain id. ethers' own network detection retries forever in the background when the
// node is down; asking once with a timeout lets the caller fail and retry on its own schedule instead.
async function connect(config: {
  rpcUrl: string;
  chainId?: number;
  requestTimeoutMs?: number;
  pollingIntervalMs?: number;
}): Promise<JsonRpcProvider> {
  const request = new FetchRequest(config.rpcUrl);
  request.timeout = config.requestTimeoutMs ?? 10_000;
  const network = Network.from(config.chainId ?? (await fetchChainId(request)));
  // cacheTimeout -1: ethers otherwise answers a repeated identical call from a 250 ms cache, which hands out a
  // stale pending nonce to the next mint and a stale "not minted" to the re-check after a lost race.
  // batchMaxCount 1: a mint's calls are sequential, so batching would only add a 10 ms stall to each.
  const provider = new JsonRpcProvider(request, network, {
    staticNetwork: network,
    cacheTimeout: -1,
    batchMaxCount: 1,
  });
  provider.pollingInterval = config.pollingIntervalMs ?? 1_000;
  return provider;
}

async function fetchChainId(connection: FetchRequest): Promise<bigint> {
  const request = connection.clone();
  request.body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] });
  request.setHeader('content-type', 'application/json');
  const response = await request.send();
  response.assertOk();
  const body = response.bodyJson as { result?: string; error?: { message?: string } };
  if (typeof body.result !== 'string') {
    throw new Error(`eth_chainId failed at ${endpointOrigin(connection)}: ${body.error?.message ?? 'no result'}`);
  }
  return BigInt(body.result);
}

// The endpoint for error messages; an RPC URL can embed an API key, so only the origin is shown.
function endpointOrigin(connection: FetchRequest): string {
  try {
    return new URL(connection.url).origin;
  } catch {
    return 'the RPC endpoint';
  }
}
