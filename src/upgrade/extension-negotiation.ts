/**
 * Server-side extension negotiation: each supported extension looks at the
 * client's offers of its name and accepts at most one; the accepted ones
 * become the session's extensions and the response's
 * `Sec-WebSocket-Extensions` header.
 */
import type { WebSocketExtension } from '../session/extension.ts';
import { formatExtensions, type ExtensionOffer } from './header-tokens.ts';

/** An extension the server supports (e.g. permessage-deflate). */
export interface ExtensionNegotiator {
  /** The extension's registered name. */
  readonly name: string;
  /**
   * Chooses from the client's offers of this extension (in the client's
   * order; never empty): the first acceptable one wins. Returns the extension
   * for the session and the element of the response header, or `undefined`
   * to decline every offer.
   */
  accept(offers: readonly ExtensionOffer[]): { extension: WebSocketExtension; response: ExtensionOffer } | undefined;
}

export interface NegotiatedExtensions {
  readonly extensions: readonly WebSocketExtension[];
  /** The response header value, or `undefined` when nothing was accepted. */
  readonly header: string | undefined;
}

/**
 * Runs each negotiator (in the server's order) over the offers of its name.
 * An extension claiming an RSV bit an earlier one already claimed is skipped.
 */
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
    const accepted = negotiator.accept(mine);
    if (accepted === undefined) continue;
    if ((accepted.extension.rsv & claimed) !== 0) {
      accepted.extension.dispose();
      continue;
    }
    claimed |= accepted.extension.rsv;
    extensions.push(accepted.extension);
    responses.push(accepted.response);
  }
  return { extensions, header: responses.length > 0 ? formatExtensions(responses) : undefined };
}
