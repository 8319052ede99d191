export { type Confab, startConfab } from './app';
export { type AllInOneConfig, loadAllInOneConfig } from './config';
