export { RateLimiter, type SharedCounting } from './limiter.ts';
