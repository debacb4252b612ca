import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.ts';

describe('CSV import', () => {
  let t: TestRuntime;
  let n = 0;
  beforeAll(async () => {
    t = await createTestRuntime();
  });
  afterAll(async () => {
    await t.close();
  });

  function file(content: string | Buffer): string {
    const path = join(t.dataDir, `import-${++n}.csv`);
    writeFileSync(path, content);
    return path;
  }

  async function importText(
    content: string | Buffer,
    options: {
      tags?: string[];
      subscribe?: boolean;
      customFields?: boolean;
      mapping?: Record<string, string>;
    } = {},
  ) {
    const path = file(content);
    const id = await t.services.people.imports.createImport({
      filename: 'people.csv',
      filePath: path,
      ...options,
    });
    return t.services.people.imports.runImport(id);
  }

  it('imports good rows and reports bad ones with their line numbers', async () => {
    const csv = [
      'First Name,Last Name,Email Address,Zip,Favourite colour',
      'Ada,Lovelace,ada@import.test,SW1A 1AA,green',
      'Bad,Email,not-an-email,12345,red',
      'No,Email,,12345,blue',
      'Too,Many,cols@import.test,1,2,3',
      '"Multi',
      'Line",Name,multi@import.test,99999,pink',
      'Grace,Hopper,GRACE@import.test,22201,navy',
      'Grace,,grace@import.test,,',
      '',
    ].join('\n');
    const status = await importText(csv, { tags: ['spring drive'] });
    expect(status.status).toBe('done');
    expect(status.errors).toEqual([
      { line: 3, message: '"not-an-email" is not a valid email address.' },
      { line: 4, message: 'No email address.' },
      { line: 5, message: 'Expected 5 columns but found 6.' },
    ]);
    expect(status).toMatchObject({ processedRows: 7, createdRows: 3, mergedRows: 1, errorRows: 3 });
    expect(status.columns?.ignored).toEqual(['Favourite colour']);
    expect(status.message).toBe(
      'Imported 4 rows: 3 new, 1 merged into people already known; 3 rows with errors.',
    );

    const found = await t.services.people.searchPeople({ tag: 'spring drive' });
    expect(found.people.map((p) => p.email).sort()).toEqual([
      'ada@import.test',
      'grace@import.test',
      'multi@import.test',
    ]);
    const ada = found.people.find((p) => p.email === 'ada@import.test')!;
    expect(ada).toMatchObject({ givenName: 'Ada', familyName: 'Lovelace', postalCode: 'SW1A 1AA' });
    expect(ada.emailStatus).toBe('unsubscribed');
    expect(ada.customFields).toEqual({});
    expect(ada.source).toBe('import:people.csv');
  });

  it('dedupes against people already in the database and subscribes when asked', async () => {
    const before = await t.services.people.mergePersonByEmail(t.ctx.db, {
      email: 'known@import.test',
      familyName: 'Known',
    });
    const status = await importText('email,first name,shirt size\nKnown@Import.test,Kay,L\n', {
      subscribe: true,
      customFields: true,
      tags: ['a', 'b'],
    });
    expect(status).toMatchObject({ status: 'done', createdRows: 0, mergedRows: 1 });
    const person = await t.services.people.getPerson(before.personId);
    expect(person).toMatchObject({ givenName: 'Kay', familyName: 'Known', tags: ['a', 'b'] });
    expect(person.customFields).toEqual({ 'shirt size': 'L' });
    expect(person.emails[0]!.status).toBe('subscribed');
    expect(person.consents[0]).toMatchObject({ what: 'email', source: 'import:people.csv' });
  });

  it('uses an explicit mapping over the automatic one', async () => {
    const status = await importText('contact,zip,notes\nmapped@import.test,ignored,hello\n', {
      mapping: { contact: 'email', zip: 'ignore', notes: 'custom:notes' },
    });
    expect(status.status).toBe('done');
    const [person] = (await t.services.people.searchPeople({ email: 'mapped@import.test' })).people;
    expect(person).toMatchObject({ postalCode: null, customFields: { notes: 'hello' } });
  });

  it('processes a file larger than one batch, each batch in its own transaction', async () => {
    const lines = ['email,name'];
    for (let i = 0; i < 6250; i++) lines.push(`bulk${i % 6000}@import.test,Person ${i}`);
    const progress: number[] = [];
    const path = file(lines.join('\r\n'));
    const id = await t.services.people.imports.createImport({
      filename: 'bulk.csv',
      filePath: path,
      tags: ['bulk'],
    });
    const status = await t.services.people.imports.runImport(id, (s) => progress.push(s.processedRows));
    expect(progress).toEqual([2500, 5000, 6250]);
    expect(status).toMatchObject({ status: 'done', createdRows: 6000, mergedRows: 250, errorRows: 0 });
    expect(status.processedBytes).toBe(status.totalBytes);
    expect((await t.services.people.searchPeople({ tag: 'bulk' })).total).toBe(6000);
    const [first] = (await t.services.people.searchPeople({ email: 'bulk5@import.test' })).people;
    expect(first).toMatchObject({ givenName: 'Person', familyName: '5' });
  });

  it('fails with a clear message on malformed files, writing nothing for the bad batch', async () => {
    const unclosed = await importText('email,name\nq1@import.test,"Open quote\nq2@import.test,B\n');
    expect(unclosed.status).toBe('failed');
    expect(unclosed.message).toContain('A quoted field is never closed');
    expect(unclosed.message).toContain('Nothing was imported.');
    expect((await t.services.people.searchPeople({ q: 'q1@import.test' })).total).toBe(0);

    const empty = await importText('');
    expect(empty).toMatchObject({ status: 'failed', message: 'The file is empty.' });

    const binary = await importText(Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x00, 0x00, 0xff, 0xfe, 0x00]));
    expect(binary.status).toBe('failed');
    expect(binary.message).toContain('does not look like a CSV file');

    const noEmail = await importText('name,zip\nAda,123\n');
    expect(noEmail.status).toBe('failed');
    expect(noEmail.message).toContain('No email column was found in the first row ("name", "zip")');

    const blankLines = await importText('\n\n\n');
    expect(blankLines).toMatchObject({ status: 'failed', message: 'The file has no rows.' });

    const badQuote = await importText('email,name\nok@import.test,"A"B\n');
    expect(badQuote.status).toBe('failed');
    expect(badQuote.message).toContain('line 2');
  });

  it('reads semicolon-separated and Windows-1252 files as spreadsheets save them', async () => {
    const semicolons = await importText('Email;Vorname;PLZ\nsemi@import.test;Jörg;10115\n');
    expect(semicolons).toMatchObject({ status: 'done', createdRows: 1 });
    const [semi] = (await t.services.people.searchPeople({ email: 'semi@import.test' })).people;
    expect(semi).toMatchObject({ postalCode: null, givenName: null });
    expect(semicolons.columns?.ignored).toEqual(['Vorname', 'PLZ']);

    const latin1 = await importText(Buffer.from('email,first name\nlatin@import.test,Jos\xe9\n', 'latin1'));
    expect(latin1.status).toBe('done');
    const [jose] = (await t.services.people.searchPeople({ email: 'latin@import.test' })).people;
    expect(jose!.givenName).toBe('José');
  });

  it('resumes after the last committed batch when run again', async () => {
    const lines = ['email'];
    for (let i = 0; i < 3750; i++) lines.push(`resume${i}@import.test`);
    const path = file(lines.join('\n'));
    const id = await t.services.people.imports.createImport({ filename: 'resume.csv', filePath: path });
    // As if a crash happened after the first batch committed.
    await t.services.people.mergePeople(
      t.ctx.db,
      lines.slice(1, 2501).map((email) => ({ email })),
    );
    await t.ctx.db
      .updateTable('imports')
      .set({ status: 'running', processed_rows: 2500, created_rows: 2500 })
      .where('id', '=', id)
      .execute();
    const status = await t.services.people.imports.runImport(id);
    expect(status).toMatchObject({ status: 'done', processedRows: 3750, createdRows: 3750, mergedRows: 0 });
  });
});
