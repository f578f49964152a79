import { HttpException } from '@nestjs/common';

/**
 * RFC 9457 problem details. `type` is stable: clients branch on it, so a
 * problem type, once published, never changes meaning. Types are relative URIs
 * under /problems/; the README lists them.
 */
export type ProblemDetails = {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  [extension: string]: unknown;
};

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export function problemType(slug: string): string {
  return `/problems/${slug}`;
}

/** Thrown by controllers and guards; the filter writes it as application/problem+json. */
export class ProblemException extends HttpException {
  constructor(readonly problem: ProblemDetails) {
    super(problem, problem.status);
  }

  static of(
    status: number,
    slug: string,
    title: string,
    extensions: Omit<Partial<ProblemDetails>, 'type' | 'status' | 'title'> = {},
  ): ProblemException {
    return new ProblemException({ type: problemType(slug), title, status, ...extensions });
  }
}
