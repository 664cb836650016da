import { AppError, assertUnreachable } from '@lifeline/errors';

export const NOTIFICATION_ERROR_CODES = ['NOTIFY_COMMAND_UNKNOWN'] as const;

export type NotificationErrorCode = (typeof NOTIFICATION_ERROR_CODES)[number];

export type NotificationErrorDetails = Record<
  string,
  string | number | boolean | null
>;

// Messages never carry PHI: ids go into `details`, never patient data or payload text.
function specOf(code: NotificationErrorCode): {
  message: string;
  retryable: boolean;
} {
  switch (code) {
    case 'NOTIFY_COMMAND_UNKNOWN':
      // A type on cmd.notify.> this version does not know: retrying cannot teach it (dead letter).
      return { message: 'unknown notify command type', retryable: false };
    default:
      return assertUnreachable(code);
  }
}

export function notificationError(
  code: NotificationErrorCode,
  details: NotificationErrorDetails = {},
): AppError<NotificationErrorCode> {
  const { message, retryable } = specOf(code);
  return new AppError({ code, message, retryable, details });
}
