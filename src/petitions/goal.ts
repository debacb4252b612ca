/**
 * The goal shown publicly: the organiser's goal until it is reached, then the next round number
 * (1, 2, 5 × 10^k) above the count, so the bar never sits full.
 */
export function displayGoal(count: number, goal: number): number {
  const base = Math.max(1, goal);
  if (count < base) return base;
  let magnitude = 10 ** Math.floor(Math.log10(Math.max(count, 1)));
  for (;;) {
    for (const step of [1, 2, 5]) {
      const candidate = step * magnitude;
      if (candidate > count) return candidate;
    }
    magnitude *= 10;
  }
}
