import { Body, Controller, Get, Param, Post, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ProblemException } from '@libs/http';
import type { Response } from 'express';
import { type AuthenticatedRequest, RequiresScope } from '../../auth/api-key.guard';
import { answerMovement } from '../../credits/credits.http';
import { StripeIngestion } from '../stripe-ingestion.service';
import { AssignPaymentRequest } from './assign-payment.request.dto';
import { UnmatchedPayments } from './unmatched-payments';

/** The "orphaned" payments: paid in Stripe, credited to nobody yet. */
@ApiTags('stripe')
@ApiBearerAuth()
@Controller('v1/admin/unmatched-payments')
export class UnmatchedPaymentsHttpController {
  constructor(
    private readonly unmatched: UnmatchedPayments,
    private readonly ingestion: StripeIngestion,
  ) {}

  @Get()
  @RequiresScope('admin')
  @ApiOperation({ summary: 'Parked Stripe payments waiting for a user, oldest first' })
  async list() {
    return { payments: await this.unmatched.list() };
  }

  @Post(':paymentId/assign')
  @RequiresScope('admin')
  @ApiOperation({
    summary: 'Credit a parked payment to a user (idempotent: once per payment); its refunds and disputes then apply',
  })
  async assign(
    @Param('paymentId') paymentId: string,
    @Body() body: AssignPaymentRequest,
    @Req() request: AuthenticatedRequest,
    @Res({ passthrough: true }) response: Response,
  ) {
    const assignedBy = request.apiKey?.name ?? 'unknown';
    const assignment = await this.unmatched.assign(paymentId, { ...body, assignedBy });
    if (assignment.kind === 'not-parked') {
      throw ProblemException.of(404, 'unmatched-payment-not-found', 'Unmatched payment not found', {
        detail: `no payment ${paymentId} is parked`,
      });
    }
    if (assignment.kind === 'credits-required') {
      throw ProblemException.of(422, 'credits-required', 'Credits required', {
        detail: `the catalog cannot tell this payment's credits (${assignment.reason}): pass credits`,
      });
    }
    const answer = answerMovement(assignment.result, response);
    // A refund or dispute of this payment that came while it was parked applies now.
    if (assignment.result.kind !== 'refused') await this.ingestion.reprocessFailedOfPayment(paymentId);
    return answer;
  }
}
