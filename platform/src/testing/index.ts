export { createTestPostgres } from './postgres';
export { freePort, needService, SERVICES, type ServiceName, uniqueSuffix, waitFor } from './services';
