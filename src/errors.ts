// Error classes. None of them looks like a network error: retry logic that retries
// ECONNRESET or ETIMEDOUT must not retry a blocked connection.

/** A malformed allow rule. `code` is `ERR_TETHERED_INVALID_RULE`. */
export class InvalidRuleError extends TypeError {
  readonly code = 'ERR_TETHERED_INVALID_RULE'
  /** The rule as given. */
  readonly rule: string
  /** Its index in the allow list. */
  readonly index: number
  /** `empty`, `url`, `port-range`, `matches-all` or `malformed`. */
  readonly kind: string

  constructor(message: string, rule: string, index: number, kind: string) {
    super(message)
    this.name = 'InvalidRuleError'
    this.rule = rule
    this.index = index
    this.kind = kind
  }
}

/** An argument of the wrong type, with Node's own code for that. */
export function invalidArgType(message: string): TypeError {
  return Object.assign(new TypeError(message), { code: 'ERR_INVALID_ARG_TYPE' })
}

/** An argument of the right type but outside its range, with Node's own code for that. */
export function outOfRange(message: string): RangeError {
  return Object.assign(new RangeError(message), { code: 'ERR_OUT_OF_RANGE' })
}

/** An argument with a value that is not accepted, with Node's own code for that. */
export function invalidArgValue(message: string): TypeError {
  return Object.assign(new TypeError(message), { code: 'ERR_INVALID_ARG_VALUE' })
}
