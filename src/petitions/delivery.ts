import { stringify } from 'csv-stringify';
import PDFDocument from 'pdfkit';
import { existsSync } from 'node:fs';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PetitionService } from './service.ts';
import type { DeliveryRow } from './store.ts';
import type { Petition } from './types.ts';

/* Delivery files for decision-makers. Both stream keyset pages: memory stays flat at 1M signatures. */

const csvColumns = [
  'signed_at',
  'confirmed_at',
  'name',
  'locality',
  'postal_code',
  'district',
  'comment',
  'source',
];

/** Confirmed signatures as CSV, a page of rows at a time. */
export function signaturesCsv(petitions: PetitionService, petition: Petition): Readable {
  const names = petitions.deliveryDistricts(petition.row.id);
  async function* rows() {
    const districtNames = new Map((await names).map((d) => [d.id, d.name]));
    yield csvColumns;
    for await (const page of petitions.signaturesForDelivery(petition.row.id)) {
      for (const s of page) {
        yield [
          s.created_at,
          s.confirmed_at ?? '',
          s.signer_name,
          s.locality ?? '',
          s.postal_code ?? '',
          s.district ? (districtNames.get(s.district) ?? s.district) : '',
          // Only comments the organiser did not hide travel to decision-makers.
          s.comment_status === 'hidden' ? '' : (s.comment ?? ''),
          s.source ?? '',
        ];
      }
    }
  }
  // A leading quote keeps spreadsheet programs from running cell text as a formula.
  const guard = (value: string) => (/^[=+\-@\t\r]/.test(value) ? `'${value}` : value);
  return Readable.from(rows()).pipe(stringify({ cast: { string: guard } }));
}

/**
 * A printable PDF: one section per district with the decision-makers for it, then every counted
 * signature (name, locality, date, comment). pdfkit writes pages as it goes; we pause while the
 * client is slower than we are so the output buffer stays small.
 */
export function deliveryPdf(
  petitions: PetitionService,
  petition: Petition,
  isAborted: () => boolean,
  fontPath?: string,
): Readable {
  const doc = new PDFDocument({
    size: 'A4',
    margin: 50,
    bufferPages: false,
    info: { Title: petition.row.title },
  });
  // PDF's built-in Helvetica knows Latin-1 only: "Nguyễn" or "Мария" need an embedded font.
  if (fontPath && existsSync(fontPath)) doc.font(fontPath);
  const row = petition.row;

  async function write(): Promise<void> {
    doc.fontSize(20).text(row.title);
    if (row.bill_reference) doc.fontSize(12).text(`Bill: ${row.bill_reference}`);
    doc.moveDown(0.5);
    doc
      .fontSize(10)
      .fillColor('#444')
      .text(`Generated ${new Date().toISOString().slice(0, 10)}`)
      .fillColor('black');
    const districts = await petitions.deliveryDistricts(row.id);
    for (const district of districts) {
      doc.addPage();
      doc
        .fontSize(16)
        .text(district.name ? `District: ${district.name}` : 'Signers without a known district');
      const targets = petition.targets.filter(
        (t) => !district.id || !t.district || t.district === district.id || t.district === district.name,
      );
      if (targets.length) {
        doc
          .fontSize(11)
          .text(`To: ${targets.map((t) => [t.name, t.title].filter(Boolean).join(', ')).join('; ')}`);
      }
      doc.moveDown(0.5);
      let n = 0;
      for await (const page of petitions.signaturesForDelivery(row.id, district.id)) {
        for (const s of page) writeSignature(++n, s);
        while (doc.readableLength > 1024 * 1024 && !isAborted()) await sleep(5);
        if (isAborted()) break;
      }
      doc.moveDown(0.5).fontSize(11).text(`${n} signatures in this section.`);
      if (isAborted()) break;
    }
  }

  function writeSignature(n: number, s: DeliveryRow): void {
    const line = [s.signer_name, s.locality, s.created_at.slice(0, 10)].filter(Boolean).join(' · ');
    doc.fontSize(10).text(`${n}. ${line}`);
    if (s.comment && s.comment_status !== 'hidden') {
      doc.fontSize(9).fillColor('#333').text(`“${s.comment}”`, { indent: 14 }).fillColor('black');
    }
  }

  write()
    .catch((error: unknown) => doc.emit('error', error))
    .finally(() => doc.end());
  return doc as unknown as Readable;
}
