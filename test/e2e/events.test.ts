import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemo } from '../../src/demo/run.ts';
import { signIn } from '../helpers/auth.ts';
import {
  axeViolations,
  chromiumAvailable,
  launchBrowser,
  newContext,
  waitForText,
} from '../helpers/browser.ts';
import { createTestApp } from '../helpers/runtime.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp.ts';

describe.skipIf(!chromiumAvailable)('events in Chromium: RSVP, waitlist, check-in', () => {
  let t: Awaited<ReturnType<typeof createTestApp>>;
  let smtp: SmtpSink;
  let browser: Browser;
  let baseUrl: string;
  beforeAll(async () => {
    smtp = await startSmtpSink();
    t = await createTestApp({ SMTP_URL: smtp.url });
    baseUrl = await t.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    t.services.mail.close();
    await t.close();
    await smtp.close();
  });

  it('RSVPs, joins the waitlist when full, and the organiser checks people in', async () => {
    const start = new Date(Date.now() + 5 * 24 * 3600_000).toISOString().slice(0, 16);
    const end = new Date(Date.now() + 5 * 24 * 3600_000 + 7200_000).toISOString().slice(0, 16);
    const event = await t.services.events.createEvent({
      title: 'Neighbourhood meeting',
      description: 'We plan the next steps together.',
      startsLocal: start,
      endsLocal: end,
      timeZone: 'Europe/Madrid',
      place: 'Community centre',
      capacity: 1,
    });

    const context = await newContext(browser, { baseUrl });
    const page = await context.newPage();
    await page.goto(`/events/${event.slug}`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Neighbourhood meeting');
    expect(await axeViolations(page)).toEqual([]);
    await page.getByLabel('Email (required)').fill('ines@example.org');
    await page.getByLabel('First name').fill('Inés');
    await page.getByRole('button', { name: 'RSVP' }).click();
    await page.waitForURL(`**/events/${event.slug}/rsvp`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe("You're going!");
    expect(await axeViolations(page)).toEqual([]);
    await t.ctx.jobs.drain();
    const mail = await smtp.waitFor((m) => m.envelopeTo.includes('ines@example.org'));
    expect(mail.attachments.some((a) => a.filename === 'event.ics')).toBe(true);

    // The one place is taken: the next person joins the waitlist.
    await page.goto(`/events/${event.slug}`);
    expect(await page.getByText('This event is full').count()).toBe(1);
    await page.getByLabel('Email (required)').fill('jon@example.org');
    await page.getByLabel('First name').fill('Jon');
    await page.getByRole('button', { name: 'Join the waitlist' }).click();
    await waitForText(page, 'heading', "You're on the waitlist", { level: 1 });
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe("You're on the waitlist");

    // Inés cancels from her email link: Jon gets the place.
    const link = /(\/events\/rsvp\/cancel\?token=\S+)/.exec(mail.text)![1]!;
    await page.goto(link);
    expect(await axeViolations(page)).toEqual([]);
    await page.getByRole('button', { name: 'Cancel my RSVP' }).click();
    await waitForText(page, 'status', 'Your RSVP is cancelled');
    expect(await page.getByRole('status').textContent()).toContain('Your RSVP is cancelled');
    await t.ctx.jobs.drain();
    await smtp.waitFor(
      (m) => m.envelopeTo.includes('jon@example.org') && m.subject.startsWith('A place opened up'),
    );
    await context.close();

    // The organiser ticks Jon off on the mobile check-in page (plain form posts).
    const organiser = await signIn(t, 'organiser');
    const admin = await newContext(browser, { baseUrl, cookie: organiser.cookie });
    const phone = await admin.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(`/admin/events/${event.id}/check-in`);
    expect(await phone.getByRole('status').textContent()).toContain('0 of 1 checked in');
    expect(await axeViolations(phone)).toEqual([]);
    await phone.getByRole('button', { name: 'Check in Jon' }).click();
    await phone.waitForURL(`**/admin/events/${event.id}/check-in#rsvp-*`);
    expect(await phone.getByRole('status').textContent()).toContain('1 of 1 checked in');
    expect(await phone.getByText('Checked in', { exact: true }).count()).toBe(1);
    await phone.getByRole('button', { name: 'Undo check-in of Jon' }).click();
    await waitForText(phone, 'status', '0 of 1 checked in');
    expect(await phone.getByRole('status').textContent()).toContain('0 of 1 checked in');
    await admin.close();
  });

  it('shows the organisation dashboard with demo data, accessible', async () => {
    await runDemo(t.services, { people: 120, seed: 3 });
    await t.services.petitions.flushPending();
    const owner = await signIn(t, 'owner');
    const context = await newContext(browser, { baseUrl, cookie: owner.cookie });
    const page = await context.newPage();
    await page.goto('/admin');
    expect(await page.getByRole('img', { name: /Signatures per day across petitions/ }).count()).toBe(1);
    expect(await page.getByRole('img', { name: /Supporters over the last 30 days/ }).count()).toBe(1);
    await page.getByText('Show the numbers as a table').first().click();
    expect(await page.getByRole('table', { name: 'Supporters over time' }).isVisible()).toBe(true);
    expect(await axeViolations(page)).toEqual([]);
    await context.close();
  });

  it('joins a local group from its public page, accessible', async () => {
    const state = await t.services.groups.createGroup({ name: 'Clean Air Nevada', level: 'state' });
    const local = await t.services.groups.createGroup({
      name: 'Clean Air Reno',
      level: 'local',
      parentId: state.id,
    });
    const context = await newContext(browser, { baseUrl });
    const page = await context.newPage();
    await page.goto(`/groups/${local.slug}`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Clean Air Reno');
    expect(await axeViolations(page)).toEqual([]);
    await page.getByLabel('Email (required)').fill('reno@example.org');
    await page.getByLabel('First name').fill('Ren');
    await page.getByRole('button', { name: 'Join' }).click();
    await waitForText(page, 'status', 'You are now a member');
    expect(await page.getByRole('status').textContent()).toContain('You are now a member');
    expect(await t.services.groups.countMembers(state.id)).toBe(1);
    await context.close();
  });
});
