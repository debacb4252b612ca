import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliveryPdf } from '../../src/petitions/delivery.ts';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.ts';
import { meta, openPetition, uniqueEmail } from './helpers.ts';

const dejavu = '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf';

describe('delivery PDF font', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await createTestRuntime({ SIGN_RATE_IP: '0', SIGN_RATE_EMAIL: '0' });
  });
  afterAll(async () => {
    await t.close();
  });

  async function pdfOf(fontPath: string): Promise<string> {
    const petition = await openPetition(t);
    for (const name of ['Nguyễn Thị', 'Мария', 'Zoë']) {
      await t.services.petitions.signPetition(
        petition.row.slug,
        { email: uniqueEmail(), givenName: name, postalCode: '1' },
        meta(),
      );
    }
    await t.services.petitions.processPendingIntake();
    const chunks: Buffer[] = [];
    for await (const chunk of deliveryPdf(t.services.petitions, petition, () => false, fontPath)) {
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString('latin1');
  }

  it.runIf(existsSync(dejavu) || process.env.CI)(
    'embeds a Unicode font so names in any script it covers print right',
    async () => {
      const pdf = await pdfOf(dejavu);
      expect(pdf.startsWith('%PDF-')).toBe(true);
      expect(pdf).toMatch(/\/BaseFont \/[A-Z]{6}\+DejaVuSans/);
      expect(pdf).not.toContain('/Helvetica');
    },
  );

  it('falls back to Helvetica when the font file is missing', async () => {
    const pdf = await pdfOf('/nowhere/font.ttf');
    expect(pdf).toContain('/BaseFont /Helvetica');
  });
});
