/**
 * The public API of the RFC 6455 frame codec: frame model, close codes,
 * masking, UTF-8 validation, the incremental parser and the serializer.
 */
// Kept in the declarations: they name Buffer and node: modules, so Node's types must load even where a
// tsconfig lists no `types` (TypeScript 7's default).
/// <reference types="node" preserve="true" />
export { Opcode, frame, isControl, type Frame } from './frame.ts';
export { ProtocolError } from './errors.ts';
export {
  CloseCode,
  MAX_CLOSE_REASON_BYTES,
  decodeClosePayload,
  encodeClosePayload,
  isValidCloseCode,
  type CloseReason,
} from './close.ts';
export { MaskKeySource, applyMask, maskInto, randomMaskKey } from './mask.ts';
export { Utf8Validator, isValidUtf8 } from './utf8.ts';
export { DEFAULT_MAX_FRAME_SIZE, FrameParser, Rsv, type FrameParserOptions } from './parser.ts';
export {
  DEFAULT_COALESCE_LIMIT,
  FrameSerializer,
  prepareFrame,
  serializeFrame,
  type FrameSerializerOptions,
} from './serializer.ts';
export { fragmentMessage } from './fragment.ts';
