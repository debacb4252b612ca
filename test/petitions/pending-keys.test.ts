import { describe, expect, it } from 'vitest';
import { PendingKeys } from '../../src/petitions/pending-keys.ts';

describe('pending keys (SQLite signings not processed yet)', () => {
  it('remembers a key per petition and forgets it only for the row it names', () => {
    const keys = new PendingKeys();
    keys.add('p1', 'k1', 'row-1');
    keys.add('p2', 'k1', 'row-2');
    expect(keys.get('p1', 'k1')).toBe('row-1');
    expect(keys.get('p2', 'k1')).toBe('row-2');
    expect(keys.get('p3', 'k1')).toBeUndefined();
    expect(keys.size).toBe(2);

    keys.remove('p1', 'k1', 'row-other');
    expect(keys.get('p1', 'k1')).toBe('row-1');
    keys.remove('p1', 'k1', 'row-1');
    expect(keys.get('p1', 'k1')).toBeUndefined();
    expect(keys.size).toBe(1);

    // Taken in again (after an erasure): the newer row counts once.
    keys.add('p2', 'k1', 'row-3');
    expect(keys.get('p2', 'k1')).toBe('row-3');
    expect(keys.size).toBe(1);
  });

  it('stays within its limit by forgetting the oldest tenth of each petition', () => {
    const keys = new PendingKeys(100);
    for (let i = 0; i < 60; i++) keys.add('a', `a${i}`, `ra${i}`);
    for (let i = 0; i < 41; i++) keys.add('b', `b${i}`, `rb${i}`);
    // 101 > 100: a loses its 6 oldest, b its 5 oldest.
    expect(keys.size).toBe(90);
    expect(keys.get('a', 'a5')).toBeUndefined();
    expect(keys.get('a', 'a6')).toBe('ra6');
    expect(keys.get('b', 'b4')).toBeUndefined();
    expect(keys.get('b', 'b5')).toBe('rb5');
    expect(keys.get('b', 'b40')).toBe('rb40');
  });

  it('loads the pending rows once, newest kept last', () => {
    const keys = new PendingKeys(10);
    const rows = Array.from({ length: 12 }, (_, i) => ({
      id: `r${11 - i}`,
      petition_id: 'p',
      email_key: `k${11 - i}`,
    }));
    keys.load(rows);
    expect(keys.isLoaded).toBe(true);
    expect(keys.get('p', 'k11')).toBe('r11');
    expect(keys.get('p', 'k0')).toBeUndefined();
    keys.load([{ id: 'x', petition_id: 'p', email_key: 'k0' }]);
    expect(keys.get('p', 'k0')).toBeUndefined();
  });
});
