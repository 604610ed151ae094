import { GraphQLError } from 'graphql';

/**
 * Every error a client, a log line or a test may match on. Codes are the contract; messages may change.
 * `status` is the HTTP status the response carries when this error ends a request.
 */
export const ERROR_CODES = {
  SOURCE_ID_INVALID: 400,
  SOURCE_ID_MISSING: 400,
  SOURCE_NOT_MAPPED: 400,
  PROFILE_SOURCE_MISMATCH: 400,
  SCHEMA_NAME_TAKEN: 409,
  SOURCE_IS_DEFAULT: 409,
  SOURCE_HAS_DATA: 409,
  NOT_FOUND: 404,
  BAD_USER_INPUT: 400,
  PAGE_SIZE_TOO_LARGE: 400,
  QUERY_LIMIT_EXCEEDED: 400,
  REQUEST_TOO_LARGE: 413,
  PREFLIGHT_REQUIRED: 400,
  QUERY_TIMEOUT: 504,
  FORBIDDEN: 403,
  CSV_MISSING_COLUMN: 400,
  CSV_MALFORMED: 400,
  CSV_EMPTY: 400,
  CSV_ENCODING: 400,
  CSV_BINARY: 400,
  CSV_UNTERMINATED_QUOTE: 400,
  CSV_COLUMN_COUNT: 400,
  CSV_DUPLICATE_COLUMN: 400,
  CSV_UNNAMED_COLUMN: 400,
  CSV_FIELD_TOO_LARGE: 400,
  CSV_RECORD_TOO_LARGE: 400,
  DATABASE_UNAVAILABLE: 503,
  SHUTTING_DOWN: 503,
  TOOL_MISSING: 500,
  TOOL_TOO_OLD: 500,
  BACKUP_INVALID: 400,
  RESTORE_TARGET_NOT_EMPTY: 409,
  SOURCE_EXISTS: 409,
  VERIFICATION_FAILED: 500,
  CUTOVER_TARGET_DIFFERS: 409,
  MIGRATION_FAILED: 500,
  MEDIA_SETTINGS_INVALID: 400,
  MEDIA_NOT_FOUND: 404,
  USER_DATA_INVALID: 400,
  // A route of the original whose work the gateway does not do (its scheduler, vault sync).
  NOT_SUPPORTED: 501,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class GatewayError extends GraphQLError {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message, { extensions: { code, ...details, http: { status: ERROR_CODES[code] } } });
    this.code = code;
    this.name = 'GatewayError';
  }
}

export function isGatewayError(error: unknown): error is GatewayError {
  return error instanceof GatewayError;
}

export type LimitName = 'depth' | 'cost' | 'fields' | 'aliases' | 'tokens' | 'batch' | 'queryBytes' | 'uploadBytes';

/** The environment variable that raises each limit, so the error can say how to change it. */
const SETTING: Record<LimitName, string> = {
  depth: 'SX_MAX_QUERY_DEPTH',
  cost: 'SX_MAX_QUERY_COST',
  fields: 'SX_MAX_QUERY_FIELDS',
  aliases: 'SX_MAX_ALIASES',
  tokens: 'SX_MAX_QUERY_TOKENS',
  batch: 'SX_MAX_BATCH',
  queryBytes: 'SX_MAX_QUERY_BYTES',
  uploadBytes: 'SX_MAX_UPLOAD_MB',
};

export function limitExceeded(limit: LimitName, max: number, actual: number | null, what: string): GatewayError {
  const found = actual === null ? '' : `, this request has ${actual}`;
  const code = limit === 'queryBytes' || limit === 'uploadBytes' ? 'REQUEST_TOO_LARGE' : 'QUERY_LIMIT_EXCEEDED';
  return new GatewayError(code, `${what}: at most ${max} allowed${found} (${SETTING[limit]})`, { limit, max, actual });
}
