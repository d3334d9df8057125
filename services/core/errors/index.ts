export {
  categoryOf,
  ERROR_CATEGORIES,
  isProgrammerError,
  isRetriable,
  LockstepError,
  wrapError,
  type ErrorCategory,
  type LockstepErrorOptions,
} from './errors.ts';
