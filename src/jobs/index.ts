export { JobRunner, enqueueJob, type JobHandler, type JobRunnerOptions } from './runner.ts';
export type { NewJob } from './store.ts';
