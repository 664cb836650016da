import { Injectable } from '@nestjs/common';
import type { PipeTransform } from '@nestjs/common';
import type { z } from 'zod';

import { requestInvalid } from './http.errors.js';
import { describeIssues } from './operation-outcome.util.js';

/** Validates a control-API body or query; the filter turns the error into a 400. */
@Injectable()
export class ZodPipe<T> implements PipeTransform<unknown, T> {
  constructor(private readonly schema: z.ZodType<T>) {}

  transform(value: unknown): T {
    const result = this.schema.safeParse(value);
    if (!result.success)
      throw requestInvalid(describeIssues(result.error.issues));
    return result.data;
  }
}
