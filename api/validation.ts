import type { ZodType } from 'zod';
import { problems } from './problems';

/** Parses a value with a zod schema, or throws a 422 problem naming every bad field. */
export function parseOr422<T>(schema: ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw problems.validation(
    result.error.issues.map((issue) => ({ field: issue.path.join('.') || '(body)', message: issue.message })),
  );
}

/** Ids in paths are short, printable tokens; anything else is not an id we issued. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
