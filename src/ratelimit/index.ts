export { RateLimiter, type SharedCounting } from './limiter.ts';
export { SharedFailureCounter, type FailureCounting } from './failures.ts';
