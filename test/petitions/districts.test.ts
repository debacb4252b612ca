import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { displayGoal } from '../../src/petitions/goal.ts';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.ts';
import { meta, openPetition, uniqueEmail } from './helpers.ts';

describe('districts', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await createTestRuntime({ SIGN_RATE_IP: '0', SIGN_RATE_EMAIL: '0' });
  });
  afterAll(async () => {
    await t.close();
  });

  it('maps postal codes to districts from an uploaded CSV, the petition map winning over the global one', async () => {
    const petition = await openPetition(t, { requiresConfirmation: false });
    const global = await t.services.petitions.importDistricts(
      null,
      'postal_code,district_id,district_name\n94110,CA-11,California 11th\n10001,NY-12,New York 12th\n',
    );
    expect(global).toEqual({ imported: 2, errors: [] });
    const own = await t.services.petitions.importDistricts(
      petition.row.id,
      '94110,SD-11,Senate District 11\n,missing,\n sw1a 1aa ,UK-1,Westminster\n',
    );
    expect(own).toEqual({ imported: 2, errors: ['Line 2: needs a postal code and a district id.'] });

    expect(await t.services.petitions.lookupDistrict(petition.row.id, '94110')).toEqual({
      id: 'SD-11',
      name: 'Senate District 11',
    });
    expect(await t.services.petitions.lookupDistrict(petition.row.id, '10001-1234')).toEqual({
      id: 'NY-12',
      name: 'New York 12th',
    });
    expect(await t.services.petitions.lookupDistrict(petition.row.id, 'SW1A  1AA')).toEqual({
      id: 'UK-1',
      name: 'Westminster',
    });
    expect(await t.services.petitions.lookupDistrict(petition.row.id, '99999')).toBeNull();

    for (const postalCode of ['94110', '94110', '10001', '99999']) {
      await t.services.petitions.signPetition(
        petition.row.slug,
        { email: uniqueEmail(), givenName: 'D', postalCode },
        meta(),
      );
    }
    await t.services.petitions.processPendingIntake();
    const count = await t.services.petitions.publicCountOf(petition);
    expect(count.byDistrict).toEqual([
      { id: 'SD-11', name: 'Senate District 11', count: 2 },
      { id: 'NY-12', name: 'New York 12th', count: 1 },
    ]);
    const dashboard = await t.services.petitions.getDashboard(petition.row.id);
    expect(dashboard.byDistrict.map((d) => [d.name, d.total])).toEqual([
      ['Senate District 11', 2],
      ['', 1],
      ['New York 12th', 1],
    ]);
  });

  it('refuses a CSV it cannot read with a message', async () => {
    await expect(t.services.petitions.importDistricts(null, '"unterminated,quote\n')).rejects.toMatchObject({
      code: 'invalid',
    });
  });

  it('raises the displayed goal to the next round number once reached', () => {
    expect(displayGoal(0, 100)).toBe(100);
    expect(displayGoal(99, 100)).toBe(100);
    expect(displayGoal(100, 100)).toBe(200);
    expect(displayGoal(250, 100)).toBe(500);
    expect(displayGoal(999, 500)).toBe(1000);
    expect(displayGoal(1000, 1000)).toBe(2000);
    expect(displayGoal(73_500, 1000)).toBe(100_000);
  });
});
