export * from './api-keys';
export * from './app-config';
