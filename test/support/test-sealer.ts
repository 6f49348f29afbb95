import { Provenance } from '../../src/credentials/provenance.ts';

/** A provenance sealer with a fixed key, for unit tests: what serve loads from its key Secret. */
export const TEST_KEY = Buffer.alloc(32, 7);
export const testSealer = new Provenance(TEST_KEY);
/** Another key: what a forger without the webhook's key can at best produce. */
export const otherSealer = new Provenance(Buffer.alloc(32, 9));
