import type { Config } from '../config';
import { loadTicketSigner, type TicketSigner } from './signing';

/**
 * The ticket signer this process uses: TICKET_SIGNING_KEY, or outside production a development key kept under
 * DATA_DIR (so the worker that signs and the API that verifies share it). In production a missing key stops the
 * process at startup, because tickets signed with a throwaway key could never be verified.
 */
export function configuredTicketSigner(
  config: Pick<Config, 'TICKET_SIGNING_KEY' | 'DATA_DIR' | 'NODE_ENV'>,
): TicketSigner {
  return loadTicketSigner(
    config.TICKET_SIGNING_KEY,
    config.NODE_ENV === 'production' ? {} : { developmentDataDir: config.DATA_DIR },
  );
}
