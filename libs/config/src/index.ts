export * from './api-keys';
export * from './app-config';
export * from './exit-when-flushed';
export * from './fail-startup';
export * from './planted-defect';
