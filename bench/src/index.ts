export { measureSqliteCommit } from './fanout/disk';
export { type FanoutPlan, type FanoutScenario, P99_LIMIT_MS } from './fanout/fanout';
export type { ServerKind } from './fanout/messages';
export { LatencyHistogram, type SparseHistogram } from './histogram';
export { main, PLANS, type Plan, parseArgs } from './main';
export { OTHER_BENCHES } from './others';
export { writeReport } from './report/report';
export { type Mode, RESULTS_FILE, readResults, type StoredLine } from './results';
