// Compiles contracts/BiltenTicket.sol with the bundled solcjs and writes the committed artifact.
// Run time never compiles: workers and tests deploy from contracts/build/BiltenTicket.json, and a test
// recompiles to prove that file still matches the source.
import fs from 'node:fs';
import path from 'node:path';
import solc from 'solc';

const repoRoot = path.resolve(__dirname, '..');

/** Source unit name of the contract; relative, so the bytecode's metadata hash is the same on every machine. */
export const BILTEN_TICKET_SOURCE = 'contracts/BiltenTicket.sol';

/** Where the committed ABI and bytecode live. */
export const BILTEN_TICKET_ARTIFACT_PATH = path.join(repoRoot, 'contracts', 'build', 'BiltenTicket.json');

/** Compiler settings; OpenZeppelin 5 uses `mcopy`, so the EVM target must be at least Cancun. */
export const BILTEN_TICKET_SETTINGS = {
  evmVersion: 'cancun',
  optimizer: { enabled: true, runs: 200 },
} as const;

/** What deployment needs from a compile: the ABI and the creation bytecode (0x-prefixed). */
export interface CompiledContract {
  abi: unknown[];
  bytecode: string;
}

/** The committed artifact: the compile plus the compiler that produced it, for whoever audits the bytecode. */
export interface BiltenTicketArtifact extends CompiledContract {
  contractName: 'BiltenTicket';
  sourceName: string;
  compiler: { version: string; settings: typeof BILTEN_TICKET_SETTINGS };
}

interface SolcMessage {
  severity: 'error' | 'warning' | 'info';
  formattedMessage: string;
}

interface SolcOutput {
  errors?: SolcMessage[];
  contracts?: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string } } }>>;
}

const openZeppelinPrefix = '@openzeppelin/contracts/';

// Only OpenZeppelin imports are resolved, and only inside its package, so a typo cannot pull in a stray file.
function resolveImport(importPath: string): { contents: string } | { error: string } {
  if (!importPath.startsWith(openZeppelinPrefix)) return { error: `unsupported import ${importPath}` };
  const packageDir = path.dirname(require.resolve('@openzeppelin/contracts/package.json'));
  const file = path.resolve(packageDir, importPath.slice(openZeppelinPrefix.length));
  if (!file.startsWith(packageDir + path.sep)) return { error: `import escapes the package: ${importPath}` };
  try {
    return { contents: fs.readFileSync(file, 'utf8') };
  } catch (err) {
    return { error: `cannot read ${importPath}: ${(err as Error).message}` };
  }
}

/** Compiles BiltenTicket from source; throws on any compiler error. Takes a few seconds (solcjs is wasm). */
export function compileBiltenTicket(): CompiledContract {
  const input = {
    language: 'Solidity',
    sources: {
      [BILTEN_TICKET_SOURCE]: { content: fs.readFileSync(path.join(repoRoot, BILTEN_TICKET_SOURCE), 'utf8') },
    },
    settings: {
      ...BILTEN_TICKET_SETTINGS,
      outputSelection: { [BILTEN_TICKET_SOURCE]: { BiltenTicket: ['abi', 'evm.bytecode.object'] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: resolveImport })) as SolcOutput;
  const errors = (output.errors ?? []).filter((m) => m.severity === 'error');
  if (errors.length > 0) {
    throw new Error(`solc failed:\n${errors.map((m) => m.formattedMessage).join('\n')}`);
  }
  const contract = output.contracts?.[BILTEN_TICKET_SOURCE]?.BiltenTicket;
  if (!contract || !contract.evm.bytecode.object) throw new Error('solc produced no bytecode for BiltenTicket');
  return { abi: contract.abi, bytecode: `0x${contract.evm.bytecode.object}` };
}

/** The artifact exactly as it is committed: stable key order, two-space JSON, trailing newline. */
export function renderBiltenTicketArtifact(compiled: CompiledContract): string {
  const artifact: BiltenTicketArtifact = {
    contractName: 'BiltenTicket',
    sourceName: BILTEN_TICKET_SOURCE,
    compiler: { version: solc.version() as string, settings: BILTEN_TICKET_SETTINGS },
    abi: compiled.abi,
    bytecode: compiled.bytecode,
  };
  return `${JSON.stringify(artifact, null, 2)}\n`;
}

if (require.main === module) {
  const rendered = renderBiltenTicketArtifact(compileBiltenTicket());
  fs.mkdirSync(path.dirname(BILTEN_TICKET_ARTIFACT_PATH), { recursive: true });
  fs.writeFileSync(BILTEN_TICKET_ARTIFACT_PATH, rendered);
  console.log(`wrote ${path.relative(repoRoot, BILTEN_TICKET_ARTIFACT_PATH)}`);
}
