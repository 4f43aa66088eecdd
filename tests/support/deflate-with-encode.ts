/**
 * permessage-deflate whose sessions compress through a function the test
 * gives: to delay, fail or count compressions.
 */
import type { ExtensionNegotiator, ExtensionOffer, WebSocketExtension } from '../../src/extensions/extension.ts';
import { permessageDeflate } from '../../src/extensions/permessage-deflate.ts';

/**
 * permessage-deflate whose sessions compress through `encode`, which is given
 * the real compression to call (to delay, fail or count it).
 */
export function deflateWithEncode(
  settings: Parameters<typeof permessageDeflate>[0],
  encode: (inner: WebSocketExtension['encode'], ...args: Parameters<WebSocketExtension['encode']>) => ReturnType<WebSocketExtension['encode']>,
): ExtensionNegotiator {
  const inner = permessageDeflate(settings);
  const wrap = (extension: WebSocketExtension): WebSocketExtension => ({
    name: extension.name,
    rsv: extension.rsv,
    sharedEncodingKey: extension.sharedEncodingKey,
    encode: (opcode, payload) => encode((o, p) => extension.encode(o, p), opcode, payload),
    decode: (payload, rsv, max) => extension.decode(payload, rsv, max),
    dispose: () => extension.dispose(),
  });
  return {
    name: inner.name,
    negotiate(offers: readonly ExtensionOffer[]) {
      const accepted = inner.negotiate(offers);
      return accepted === undefined ? undefined : { extension: wrap(accepted.extension), response: accepted.response };
    },
    offer: () => inner.offer(),
    accept: (response) => wrap(inner.accept(response)),
  };
}

