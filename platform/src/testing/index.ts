export { createTestPostgres } from './postgres';
export { needService, SERVICES, type ServiceName, uniqueSuffix, waitFor } from './services';
