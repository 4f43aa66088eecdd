/**
 * Server-side extension negotiation: each supported extension looks at the
 * client's offers of its name and accepts at most one; the accepted ones
 * become the session's extensions and the response's
 * `Sec-WebSocket-Extensions` header.
 */
import type { ExtensionNegotiator, ExtensionOffer, WebSocketExtension } from '../extensions/extension.ts';
import { formatExtensions } from './header-tokens.ts';

export interface NegotiatedExtensions {
  readonly extensions: readonly WebSocketExtension[];
  /** The response header value, or `undefined` when nothing was accepted. */
  readonly header: string | undefined;
}

/**
 * Runs each negotiator (in the server's order) over the offers of its name.
 * An extension claiming an RSV bit an earlier one already claimed is skipped.
 */
const NONE: NegotiatedExtensions = Object.freeze({ extensions: Object.freeze([]), header: undefined });

export function negotiateExtensions(
  offers: readonly ExtensionOffer[],
  negotiators: readonly ExtensionNegotiator[],
): NegotiatedExtensions {
  const extensions: WebSocketExtension[] = [];
  const responses: ExtensionOffer[] = [];
  let claimed = 0;
  for (const negotiator of negotiators) {
    const mine = offers.filter((offer) => offer.name.toLowerCase() === negotiator.name);
    if (mine.length === 0) continue;
    const accepted = negotiator.negotiate(mine);
    if (accepted === undefined) continue;
    if ((accepted.extension.rsv & claimed) !== 0) {
      accepted.extension.dispose();
      continue;
    }
    claimed |= accepted.extension.rsv;
    extensions.push(accepted.extension);
    responses.push(accepted.response);
  }
  // Most connections negotiate nothing: they share one empty list.
  if (responses.length === 0) return NONE;
  return { extensions, header: formatExtensions(responses) };
}
