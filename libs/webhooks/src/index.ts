export * from './balance-alerts';
export * from './outbound-address';
export * from './webhook-events';
export * from './webhook-signature';
