/**
 * Linear's GraphQL error shapes. The SDK picks its error class from `errors[0].extensions.type`
 * (see parseLinearError in @linear/sdk), so every error here carries a `type` string the SDK
 * knows. Shapes for input errors follow responses seen from the real API as quoted by third-party
 * clients (`Entity not found: Issue`, code INPUT_ERROR, type "invalid input"); see README.md for
 * what is unverified.
 */
export class LinearApiError extends Error {
  readonly extensions: Record<string, unknown>;

  constructor(message: string, extensions: Record<string, unknown>) {
    super(message);
    this.extensions = extensions;
  }
}

export function inputError(message: string, userPresentableMessage: string): LinearApiError {
  return new LinearApiError(message, {
    code: 'INPUT_ERROR',
    statusCode: 400,
    type: 'invalid input',
    userError: true,
    userPresentableMessage,
  });
}

export function notFound(entity: string): LinearApiError {
  return inputError(`Entity not found: ${entity}`, `Could not find referenced ${entity}.`);
}

export function argumentValidation(userPresentableMessage: string): LinearApiError {
  return inputError('Argument Validation Error', userPresentableMessage);
}

export function forbidden(message: string, userPresentableMessage: string): LinearApiError {
  return new LinearApiError(message, {
    code: 'FORBIDDEN',
    statusCode: 403,
    type: 'forbidden',
    userError: true,
    userPresentableMessage,
  });
}

/**
 * A request the real API would accept but this emulator does not model. Failing loudly keeps a
 * test from passing on behaviour the emulator never had; the SDK turns it into OtherLinearError.
 */
export function unsupported(what: string): LinearApiError {
  return new LinearApiError(`Linear emulator does not support ${what}`, {
    code: 'EMULATOR_UNSUPPORTED',
    type: 'other',
    userError: false,
  });
}
