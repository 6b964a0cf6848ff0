import { DefaultFailureConverter } from '@temporalio/common';

/**
 * Failure messages and stack traces travel in an (encrypted) payload instead of in clear text: they can quote a
 * provider's error. Loaded by path (`failureConverterPath`) because workflows run it inside their sandbox.
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
