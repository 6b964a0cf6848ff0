import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Contract, FetchRequest, JsonRpcProvider, Network, Wallet, ZeroAddress } from 'ethers';
import artifact from '../contracts/build/BiltenTicket.json';
import {
  createEthersMinter,
  deployBiltenTicket,
  ticketTokenId,
  type EthersMinter,
} from '../providers/nft/ethers-minter';
import { startAnvil, type RunningAnvil } from '../scripts/anvil';
import {
  BILTEN_TICKET_ARTIFACT_PATH,
  compileBiltenTicket,
  renderBiltenTicketArtifact,
} from '../scripts/compile-contract';

// Anvil's second default dev account: funded, but not the platform.
const STRANGER_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';

/** A direct view of the chain, to check what the minter claims; no response cache, so reads are fresh. */
function chainView(rpcUrl: string, contractAddress: string, key: string) {
  const network = Network.from(31337);
  const provider = new JsonRpcProvider(new FetchRequest(rpcUrl), network, {
    staticNetwork: network,
    cacheTimeout: -1,
  });
  const wallet = new Wallet(key, provider);
  const contract = new Contract(contractAddress, artifact.abi, wallet);
  return {
    provider,
    contract,
    /** Transactions the platform key has sent so far; a no-op mint must leave it unchanged. */
    sentCount: () => provider.getTransactionCount(wallet.address, 'pending'),
    /** How many times `tokenId` was minted: Transfer events from the zero address. */
    mintCount: async (tokenId: bigint) =>
      (await contract.queryFilter(contract.filters.Transfer!(ZeroAddress, null, tokenId), 0)).length,
  };
}

describe('ethers minter on a local anvil chain', () => {
  let anvil: RunningAnvil;
  let contractAddress: string;
  let minter: EthersMinter;
  let chain: ReturnType<typeof chainView>;
  const buyer = Wallet.createRandom().address;

  beforeAll(async () => {
    anvil = await startAnvil();
    contractAddress = await deployBiltenTicket({ rpcUrl: anvil.rpcUrl, privateKey: anvil.privateKey });
    minter = createEthersMinter({ rpcUrl: anvil.rpcUrl, privateKey: anvil.privateKey, contractAddress });
    chain = chainView(anvil.rpcUrl, contractAddress, anvil.privateKey);
  });

  afterAll(async () => {
    minter?.close();
    chain?.provider.destroy();
    await anvil?.stop();
  });

  it('when a ticket is minted to a buyer, then the buyer owns the token with its metadata URI', async () => {
    const tokenId = ticketTokenId('ticket-first');

    const result = await minter.ensureMinted({ tokenId, to: buyer, tokenUri: 'https://bilten.test/t/first' });

    expect(result).toEqual({
      tokenId: tokenId.toString(),
      txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/),
      owner: buyer,
      alreadyMinted: false,
    });
    expect(await minter.ownerOf(tokenId)).toBe(buyer);
    expect(await chain.contract.getFunction('ownerOf').staticCall(tokenId)).toBe(buyer);
    expect(await chain.contract.getFunction('tokenURI').staticCall(tokenId)).toBe('https://bilten.test/t/first');
  });

  it('when a token was never minted, then ownerOf is null rather than an error', async () => {
    expect(await minter.ownerOf(ticketTokenId('ticket-never-sold'))).toBeNull();
  });

  it('when the same ticket is minted again, then nothing is sent and the existing owner is reported', async () => {
    const tokenId = ticketTokenId('ticket-twice');
    await minter.ensureMinted({ tokenId, to: buyer, tokenUri: 'u' });
    const sentBefore = await chain.sentCount();
    const blockBefore = await chain.provider.getBlockNumber();

    const again = await minter.ensureMinted({ tokenId, to: buyer, tokenUri: 'u' });

    expect(again).toEqual({ tokenId: tokenId.toString(), txHash: null, owner: buyer, alreadyMinted: true });
    expect(await chain.sentCount()).toBe(sentBefore);
    expect(await chain.provider.getBlockNumber()).toBe(blockBefore);
    expect(await chain.mintCount(tokenId)).toBe(1);
  });

  it('when many workers mint the same ticket at once, then it is minted exactly once', async () => {
    const tokenId = ticketTokenId('ticket-contended');
    // A second minter on the same key stands in for another worker process: no shared in-memory state.
    const otherWorker = createEthersMinter({
      rpcUrl: anvil.rpcUrl,
      privateKey: anvil.privateKey,
      contractAddress,
    });
    const sentBefore = await chain.sentCount();
    try {
      const results = await Promise.all(
        [minter, otherWorker, minter, otherWorker, minter, otherWorker].map((m) =>
          m.ensureMinted({ tokenId, to: buyer, tokenUri: 'u' }),
        ),
      );

      expect(results.filter((r) => !r.alreadyMinted)).toHaveLength(1);
      expect(results.every((r) => r.owner === buyer)).toBe(true);
      expect(await chain.mintCount(tokenId)).toBe(1);
      // Nor did any loser pay for a reverted mint: each saw the owner, was refused at gas estimation, or lost
      // the nonce to the winner.
      expect((await chain.sentCount()) - sentBefore).toBe(1);
    } finally {
      otherWorker.close();
    }
  });

  it('when different tickets are minted concurrently from one key, then every mint lands (no nonce clash)', async () => {
    const tokenIds = Array.from({ length: 8 }, (_, i) => ticketTokenId(`ticket-batch-${i}`));

    const results = await Promise.all(
      tokenIds.map((tokenId) => minter.ensureMinted({ tokenId, to: buyer, tokenUri: 'u' })),
    );

    expect(results.every((r) => !r.alreadyMinted && r.txHash !== null)).toBe(true);
    expect(new Set(results.map((r) => r.txHash)).size).toBe(tokenIds.length);
    for (const tokenId of tokenIds) expect(await minter.ownerOf(tokenId)).toBe(buyer);
  });

  describe('when another worker mints the id between our look and our act', () => {
    // Automine is off so the other worker's mint waits in the mempool: our look sees no owner, and our act
    // happens while theirs is unmined. Our minter talks through a recording proxy, so the test knows when it
    // has acted before mining the block.
    let proxy: RecordingProxy;
    let otherWorker: EthersMinter;
    let ours: EthersMinter;

    beforeEach(async () => {
      proxy = await startRecordingProxy(anvil.rpcUrl);
      const config = { privateKey: anvil.privateKey, contractAddress, pollingIntervalMs: 50 };
      otherWorker = createEthersMinter({ ...config, rpcUrl: anvil.rpcUrl });
      ours = createEthersMinter({ ...config, rpcUrl: proxy.rpcUrl });
      await chain.provider.send('evm_setAutomine', [false]);
    });

    afterEach(async () => {
      await chain.provider.send('evm_setAutomine', [true]);
      otherWorker.close();
      ours.close();
      await proxy.close();
    });

    it('and the node refuses our doomed mint up front (anvil), then ours waits and reports alreadyMinted', async () => {
      const tokenId = ticketTokenId('ticket-raced-pending');
      const sentBefore = await chain.sentCount();
      const theirs = otherWorker.ensureMinted({ tokenId, to: buyer, tokenUri: 'u' });
      await waitFor(async () => Number((await chain.provider.send('txpool_status', [])).pending) === 1);
      const mine = ours.ensureMinted({ tokenId, to: buyer, tokenUri: 'u' });
      // The estimate was refused and ours is now polling for the winner.
      await waitFor(() => {
        const refused = proxy.methods.indexOf('eth_estimateGas');
        return refused >= 0 && proxy.methods.lastIndexOf('eth_call') > refused;
      });
      await chain.provider.send('evm_mine', []);

      const [theirResult, ourResult] = await Promise.all([theirs, mine]);

      expect(theirResult).toMatchObject({ alreadyMinted: false, owner: buyer });
      expect(ourResult).toEqual({ tokenId: tokenId.toString(), txHash: null, owner: buyer, alreadyMinted: true });
      expect(proxy.methods).not.toContain('eth_sendRawTransaction');
      expect(await chain.mintCount(tokenId)).toBe(1);
      expect((await chain.sentCount()) - sentBefore).toBe(1);
    });

    it('and the node estimates on the latest block (geth), then our reverted mint reports alreadyMinted', async () => {
      const tokenId = ticketTokenId('ticket-raced-latest');
      proxy.estimateOnLatest = true;
      const theirs = otherWorker.ensureMinted({ tokenId, to: buyer, tokenUri: 'u' });
      await waitFor(async () => Number((await chain.provider.send('txpool_status', [])).pending) === 1);
      const mine = ours.ensureMinted({ tokenId, to: buyer, tokenUri: 'u' });
      await waitFor(async () => Number((await chain.provider.send('txpool_status', [])).pending) === 2);
      await chain.provider.send('evm_mine', []);

      const [theirResult, ourResult] = await Promise.all([theirs, mine]);

      expect(theirResult).toMatchObject({ alreadyMinted: false, owner: buyer });
      expect(ourResult).toEqual({ tokenId: tokenId.toString(), txHash: null, owner: buyer, alreadyMinted: true });
      expect(proxy.methods).toContain('eth_sendRawTransaction');
      expect(await chain.mintCount(tokenId)).toBe(1);
    });
  });

  it('when someone other than the platform calls mint, then the contract refuses', async () => {
    const stranger = chainView(anvil.rpcUrl, contractAddress, STRANGER_KEY);
    try {
      await expect(
        stranger.contract.getFunction('mint').staticCall(buyer, ticketTokenId('ticket-forged'), 'u'),
      ).rejects.toMatchObject({ revert: { name: 'OwnableUnauthorizedAccount' } });
    } finally {
      stranger.provider.destroy();
    }
  });
});

describe('ethers minter when the chain goes away', () => {
  let stateDir: string;

  beforeAll(() => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bilten-anvil-'));
  });

  afterAll(() => {
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('when anvil is stopped, then ensureMinted rejects promptly, and a retry after restart mints', async () => {
    const stateFile = path.join(stateDir, 'chain.json');
    const first = await startAnvil({ stateFile });
    const port = Number(new URL(first.rpcUrl).port);
    const contractAddress = await deployBiltenTicket({ rpcUrl: first.rpcUrl, privateKey: first.privateKey });
    const minter = createEthersMinter({
      rpcUrl: first.rpcUrl,
      privateKey: first.privateKey,
      contractAddress,
      requestTimeoutMs: 2_000,
      receiptTimeoutMs: 5_000,
    });
    const buyer = Wallet.createRandom().address;
    const before = ticketTokenId('ticket-before-outage');
    const during = ticketTokenId('ticket-during-outage');
    let second: RunningAnvil | undefined;
    try {
      await minter.ensureMinted({ tokenId: before, to: buyer, tokenUri: 'u' });
      await first.stop();

      const startedAt = Date.now();
      await expect(minter.ensureMinted({ tokenId: during, to: buyer, tokenUri: 'u' })).rejects.toThrow();
      expect(Date.now() - startedAt).toBeLessThan(5_000);

      // Same port, same state file: the chain, the contract and the earlier mint survive the restart.
      second = await startAnvil({ port, stateFile });
      expect(await minter.ownerOf(before)).toBe(buyer);
      const retried = await minter.ensureMinted({ tokenId: during, to: buyer, tokenUri: 'u' });
      expect(retried).toMatchObject({ owner: buyer, alreadyMinted: false });
    } finally {
      minter.close();
      await first.stop();
      await second?.stop();
    }
  });
});

describe('ticket token ids', () => {
  it('when a ticket id is turned into a token id, then it is the pinned keccak256 value', () => {
    // Pinned: changing the derivation would mint every issued ticket a second time under a new id.
    expect(ticketTokenId('ticket-0001')).toBe(
      17562387220110503571256538519482039891145672767935520242216982688625313003734n,
    );
    expect(ticketTokenId('ticket-0002')).not.toBe(ticketTokenId('ticket-0001'));
    expect(ticketTokenId('ticket-0001') < 2n ** 256n).toBe(true);
  });

  it('when the ticket id is empty, then no token id is made', () => {
    expect(() => ticketTokenId('')).toThrow();
  });
});

describe('compiled BiltenTicket artifact', () => {
  it('when the contract is compiled afresh, then it matches the committed artifact byte for byte', () => {
    const fresh = renderBiltenTicketArtifact(compileBiltenTicket());

    // If this fails, run `npx tsx scripts/compile-contract.ts` and commit contracts/build/BiltenTicket.json.
    expect(fresh).toBe(fs.readFileSync(BILTEN_TICKET_ARTIFACT_PATH, 'utf8'));
  });
});

/** Polls until `condition` holds, so a test can line up a race without sleeping blindly. */
async function waitFor(condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition never held');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A JSON-RPC pass-through that records the methods called, and can make gas estimates use the latest block. */
interface RecordingProxy {
  rpcUrl: string;
  methods: string[];
  estimateOnLatest: boolean;
  close(): Promise<void>;
}

async function startRecordingProxy(upstream: string): Promise<RecordingProxy> {
  const proxy: RecordingProxy = {
    rpcUrl: '',
    methods: [],
    estimateOnLatest: false,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as JsonRpcCall | JsonRpcCall[];
      for (const call of Array.isArray(body) ? body : [body]) {
        if (call.method === 'eth_estimateGas' && proxy.estimateOnLatest) call.params = [call.params[0], 'latest'];
      }
      void fetch(upstream, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
        .then(async (answer) => {
          const text = await answer.text();
          // Recorded once answered, so "seen" means the minter has the answer in hand.
          for (const call of Array.isArray(body) ? body : [body]) proxy.methods.push(call.method);
          res.writeHead(answer.status, { 'content-type': 'application/json' }).end(text);
        })
        .catch(() => res.writeHead(502).end());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.rpcUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}

interface JsonRpcCall {
  method: string;
  params: unknown[];
}
