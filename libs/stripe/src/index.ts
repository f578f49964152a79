export * from './stripe-catalog';
export * from './stripe-event.mapping';
export * from './stripe-event.meaning';
export * from './stripe-period';
export * from './unmatched-payments';
