import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openRuntime } from '../../src/bootstrap.ts';
import { loadConfig } from '../../src/config.ts';
import { petitionCommands } from '../../src/petitions/cli.ts';
import { createServices } from '../../src/services.ts';

// The command opens the database from the environment, so this file uses an SQLite folder of its own.
describe('undersign districts import', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'undersign-districts-'));
  const saved = { ...process.env };
  beforeAll(() => {
    delete process.env.DATABASE_URL;
    process.env.DATA_DIR = dataDir;
    process.env.SECRET_KEY = 'test-secret';
    process.env.LOG_LEVEL = 'silent';
  });
  afterAll(() => {
    process.env = saved;
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('loads a global map and a petition map, reporting skipped lines', async () => {
    const command = petitionCommands.find((c) => c.name === 'districts import')!;
    const file = join(dataDir, 'districts.csv');
    writeFileSync(file, 'postal_code,district_id,district_name\n94110,CA-11,California 11th\n,bad,\n');
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    expect(await command.run([file], parseArgs)).toBe(0);
    expect(log).toHaveBeenCalledWith('Imported 1 postal codes into the global map; 1 lines skipped.');
    expect(error).toHaveBeenCalledWith('Line 3: needs a postal code and a district id.');

    const runtime = await openRuntime(loadConfig());
    try {
      const { petitions } = createServices(runtime.ctx);
      const petition = await petitions.createPetition({ slug: 'cli-petition', title: 'CLI' });
      writeFileSync(file, '94110,SD-1,Senate 1\n');
      expect(await command.run([file, '--petition', 'cli-petition'], parseArgs)).toBe(0);
      expect(log).toHaveBeenLastCalledWith('Imported 1 postal codes for /petitions/cli-petition.');
      expect(await petitions.lookupDistrict(petition.row.id, '94110')).toEqual({
        id: 'SD-1',
        name: 'Senate 1',
      });
    } finally {
      await runtime.close();
      log.mockRestore();
      error.mockRestore();
    }
  });
});
