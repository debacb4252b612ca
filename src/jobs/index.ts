export { JobRunner, enqueueJob, type JobHandler, type JobRunnerOptions } from './runner.ts';
export { findJob, type NewJob } from './store.ts';
