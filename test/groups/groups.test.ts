import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/auth/index.ts';
import { signIn, type SignedIn } from '../helpers/auth.ts';
import { createTestApp, createTestRuntime, type TestRuntime } from '../helpers/runtime.ts';
import { sign } from '../mail/fixtures.ts';

type T = TestRuntime & { app: FastifyInstance };

function form(fields: Record<string, string>) {
  return {
    payload: new URLSearchParams(fields).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  };
}

describe('groups: tree, membership by joining and by rules, leaders, public page', () => {
  let t: T;
  let owner: SignedIn;
  const ids: Record<string, string> = {};
  const people: Record<string, string> = {};
  beforeAll(async () => {
    t = await createTestApp();
    owner = await signIn(t, 'owner');
    const create = async (name: string, level: string, parentId = '') => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/admin/groups',
        headers: { cookie: owner.cookie, 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ _csrf: owner.csrf, name, level, parent_id: parentId }).toString(),
      });
      expect(res.statusCode).toBe(303);
      return res.headers.location!.split('/').pop()!;
    };
    ids.n = await create('Clean Air USA', 'national');
    ids.s = await create('Clean Air California', 'state', ids.n);
    ids.a = await create('Clean Air Oakland', 'local', ids.s);
    ids.b = await create('Clean Air Fresno', 'local', ids.s);
  });
  afterAll(async () => {
    await t.close();
  });

  async function join(slug: string, email: string, extra: Record<string, string> = {}) {
    return t.app.inject({ method: 'POST', url: `/groups/${slug}/join`, ...form({ email, ...extra }) });
  }

  it('keeps the tree and refuses a group inside its own sub-group', async () => {
    const tree = await t.services.groups.listTree();
    expect(tree.map((g) => [g.name, g.depth])).toEqual([
      ['Clean Air USA', 0],
      ['Clean Air California', 1],
      ['Clean Air Fresno', 2],
      ['Clean Air Oakland', 2],
    ]);
    await expect(
      t.services.groups.updateGroup(ids.s!, {
        name: 'Clean Air California',
        level: 'state',
        parentId: ids.a!,
      }),
    ).rejects.toMatchObject({ code: 'invalid' });
    expect(await t.services.groups.withDescendants([ids.s!])).toHaveLength(3);
  });

  it('joins from the public page, merging by email; joining twice changes nothing', async () => {
    const page = await t.app.inject({ url: '/groups/clean-air-oakland' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Join Clean Air Oakland');
    expect(page.body).toContain('Part of <a href="/groups/clean-air-california">');
    const first = await join('clean-air-oakland', 'Olu@Example.org', { given_name: 'Olu' });
    expect(first.statusCode).toBe(200);
    expect(first.body).toContain('You are now a member');
    await join('clean-air-oakland', 'olu@example.org', { family_name: 'Ade' });
    const found = await t.services.people.searchPeople({ email: 'olu@example.org' });
    expect(found.total).toBe(1);
    people.olu = found.people[0]!.id;
    const person = await t.services.people.getPerson(people.olu);
    expect([person.givenName, person.familyName]).toEqual(['Olu', 'Ade']);
    expect(person.activity.filter((a) => a.kind === 'group.join')).toHaveLength(1);
    expect(await t.services.groups.countMembers(ids.a!)).toBe(1);
    await join('clean-air-oakland', 'bot@example.org', { website: 'https://spam.example' });
    expect((await t.services.people.searchPeople({ email: 'bot@example.org' })).total).toBe(0);
    const bad = await join('clean-air-oakland', 'nope');
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('valid email address');
  });

  it('adds members by postal code and district rules, counted up the tree', async () => {
    const rule = await t.app.inject({
      method: 'POST',
      url: `/admin/groups/${ids.b}/rules`,
      headers: { cookie: owner.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ _csrf: owner.csrf, kind: 'postal_prefix', value: '937' }).toString(),
    });
    expect(rule.statusCode).toBe(303);
    const [fresno, elsewhere] = await t.services.people.mergePeople(t.ctx.db, [
      { email: 'fresno@example.org', address: { postalCode: '93701' } },
      { email: 'elsewhere@example.org', address: { postalCode: '10115' } },
    ]);
    people.fresno = fresno!.personId;
    people.elsewhere = elsewhere!.personId;
    expect(await t.services.groups.isMember(ids.b!, people.fresno)).toBe(true);
    expect(await t.services.groups.isMember(ids.b!, people.elsewhere)).toBe(false);
    expect(await t.services.groups.countMembers(ids.b!)).toBe(1);
    // Olu joined Oakland and Fresno's rule matched one person: California and the nation count both.
    expect(await t.services.groups.countMembers(ids.s!)).toBe(2);
    expect(await t.services.groups.countMembers(ids.n!)).toBe(2);
    const counts = await t.services.groups.groupCounts();
    expect(counts.map((c) => [c.name, c.members])).toEqual([
      ['Clean Air USA', 2],
      ['Clean Air California', 2],
      ['Clean Air Fresno', 1],
      ['Clean Air Oakland', 1],
    ]);
    expect((await t.services.dashboard.getDashboard()).groups.map((g) => g.members)).toEqual([2, 2, 1, 1]);
  });

  it('shows open petitions and upcoming events of the group and its sub-groups', async () => {
    const petition = await t.services.petitions.createPetition({
      slug: 'oakland-air',
      title: 'Clean air for Oakland schools',
      groupId: ids.a!,
      requiresConfirmation: false,
    });
    await t.services.petitions.publishPetition(petition.row.id);
    await t.services.petitions.createPetition({ slug: 'draft-one', title: 'A draft', groupId: ids.a! });
    const start = new Date(Date.now() + 4 * 24 * 3600_000).toISOString().slice(0, 16);
    const end = new Date(Date.now() + 4 * 24 * 3600_000 + 3600_000).toISOString().slice(0, 16);
    await t.services.events.createEvent({
      title: 'Oakland air walk',
      startsLocal: start,
      endsLocal: end,
      timeZone: 'America/Los_Angeles',
      place: 'Lake Merritt',
      groupId: ids.a!,
    });
    const local = await t.app.inject({ url: '/groups/clean-air-oakland' });
    expect(local.body).toContain('Clean air for Oakland schools');
    expect(local.body).not.toContain('A draft');
    expect(local.body).toContain('Oakland air walk');
    const state = await t.app.inject({ url: '/groups/clean-air-california' });
    expect(state.body).toContain('Clean air for Oakland schools');
    const fresno = await t.app.inject({ url: '/groups/clean-air-fresno' });
    expect(fresno.body).not.toContain('Oakland air walk');
    expect(fresno.body).toContain('No upcoming events yet.');
  });

  it('leaders manage events of their own groups only', async () => {
    const leader = await signIn(t, 'organiser');
    await t.services.groups.setLeader(ids.b!, leader.email);
    const list = await t.app.inject({ url: '/admin/events', headers: { cookie: leader.cookie } });
    expect(list.body).not.toContain('Oakland air walk');
    const start = new Date(Date.now() + 9 * 24 * 3600_000).toISOString().slice(0, 16);
    const end = new Date(Date.now() + 9 * 24 * 3600_000 + 3600_000).toISOString().slice(0, 16);
    const fields = {
      _csrf: leader.csrf,
      title: 'Fresno canvass',
      starts_local: start,
      ends_local: end,
      time_zone: 'America/Los_Angeles',
      place: 'Tower District',
    };
    const elsewhere = await t.app.inject({
      method: 'POST',
      url: '/admin/events',
      headers: { cookie: leader.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ ...fields, group_id: ids.a! }).toString(),
    });
    expect(elsewhere.statusCode).toBe(403);
    const own = await t.app.inject({
      method: 'POST',
      url: '/admin/events',
      headers: { cookie: leader.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ ...fields, group_id: ids.b! }).toString(),
    });
    expect(own.statusCode).toBe(303);
    const oakland = (await t.services.events.listEvents()).find((e) => e.title === 'Oakland air walk')!;
    expect(
      (await t.app.inject({ url: `/admin/events/${oakland.id}`, headers: { cookie: leader.cookie } }))
        .statusCode,
    ).toBe(404);
    expect(
      (await t.app.inject({ url: `/admin/groups/${ids.a}`, headers: { cookie: leader.cookie } })).statusCode,
    ).toBe(404);
    expect(
      (await t.app.inject({ url: `/admin/groups/${ids.b}`, headers: { cookie: leader.cookie } })).statusCode,
    ).toBe(200);
  });

  it('makes people who RSVP to a group event members of that group', async () => {
    const walk = (await t.services.events.listEvents()).find((e) => e.title === 'Oakland air walk')!;
    expect(await t.services.groups.countMembers(ids.a!)).toBe(1);
    await t.services.events.rsvp(walk.slug, { email: 'walker@example.org' }, { ip: null });
    await t.services.events.rsvp(walk.slug, { email: 'olu@example.org' }, { ip: null });
    expect(await t.services.groups.countMembers(ids.a!)).toBe(2);
    const walker = (await t.services.people.searchPeople({ email: 'walker@example.org' })).people[0]!;
    expect(await t.services.groups.isMember(ids.a!, walker.id)).toBe(true);
    expect((await t.services.groups.groupsOfPerson(walker.id)).map((g) => g.source)).toEqual(['event']);
  });

  it('mails a group: the "in group" audience reaches its subscribed members and its sub-groups\'', async () => {
    await t.services.people.mergePeople(t.ctx.db, [
      { email: 'olu@example.org', subscribe: true },
      { email: 'fresno@example.org', subscribe: true },
      { email: 'elsewhere@example.org', subscribe: true },
    ]);
    const count = (groups: string[]) => t.services.mailings.countAudience({ groups });
    // Oakland: Olu joined, the walker RSVPed (not subscribed). Fresno: matched by its postal-code rule.
    expect(await count([ids.a!])).toBe(1);
    expect(await count([ids.b!])).toBe(1);
    expect(await count([ids.s!])).toBe(2);
    expect(await count([])).toBe(3);
    const mailingId = await t.services.mailings.createMailing({
      fromName: 'Clean Air California',
      fromAddress: 'ca@act.example',
      subject: 'Our state meeting',
      body: 'See you there.',
      format: 'markdown',
      audience: { groups: [ids.s!] },
    });
    expect(await t.services.mailings.startSending(mailingId)).toBe(2);
    const recipients = await t.ctx.db
      .selectFrom('mailing_recipients')
      .select('email')
      .where('mailing_id', '=', mailingId)
      .orderBy('email')
      .execute();
    expect(recipients.map((r) => r.email)).toEqual(['fresno@example.org', 'olu@example.org']);
  });
});

describe('access matrix: who sees which people', () => {
  let t: T;
  const groupIds: Record<string, string> = {};
  const personIds: Record<string, string> = {};
  const users: Partial<Record<string, SignedIn>> = {};
  const apiKeys: Record<string, string> = {};
  const petitionIds: Record<string, string> = {};
  const mailingIds: Record<string, string> = {};
  const roles = ['owner', 'admin', 'organiser', 'leaderA', 'leaderB', 'viewer'];
  // signerA is in no group but signed group A's petition: that makes them a member of A.
  const everyone = ['onlyA', 'onlyB', 'both', 'ruleA', 'stateOnly', 'nobody', 'signerA'];
  const visible: Record<string, string[]> = {
    owner: everyone,
    admin: everyone,
    organiser: everyone,
    viewer: everyone,
    leaderA: ['onlyA', 'both', 'ruleA', 'signerA'],
    leaderB: ['onlyB', 'both'],
  };
  /** The API key each row uses: leaders' groups get keys limited to them; the others' is unlimited. */
  const keyOf = (who: string) => (who === 'leaderA' ? 'a' : who === 'leaderB' ? 'b' : 'all');

  beforeAll(async () => {
    t = await createTestApp();
    const g = t.services.groups;
    const state = await g.createGroup({ name: 'State', level: 'state' });
    const a = await g.createGroup({ name: 'Local A', level: 'local', parentId: state.id });
    const b = await g.createGroup({ name: 'Local B', level: 'local', parentId: state.id });
    Object.assign(groupIds, { state: state.id, a: a.id, b: b.id });
    await g.addRule(a.id, 'postal_prefix', '941');
    const named = everyone.filter((name) => name !== 'signerA');
    const results = await t.services.people.mergePeople(
      t.ctx.db,
      named.map((name) => ({
        email: `${name.toLowerCase()}@matrix.example`,
        givenName: name,
        subscribe: true,
        address: { postalCode: name === 'ruleA' ? '94110' : '60601' },
      })),
    );
    named.forEach((name, i) => (personIds[name] = results[i]!.personId));
    await g.addMember(a.id, personIds.onlyA!);
    await g.addMember(b.id, personIds.onlyB!);
    await g.addMember(a.id, personIds.both!);
    await g.addMember(b.id, personIds.both!);
    await g.addMember(state.id, personIds.stateOnly!);

    const petitionA = await t.services.petitions.createPetition({
      slug: 'matrix-a',
      title: 'Matrix A petition',
      groupId: a.id,
      requiresConfirmation: false,
      altchaEnabled: false,
    });
    await t.services.petitions.publishPetition(petitionA.row.id);
    await sign(t.services, 'matrix-a', 'signera@matrix.example', { givenName: 'Sigrid' });
    const [signer] = await t.services.people.mergePeople(t.ctx.db, [
      { email: 'signera@matrix.example', subscribe: true },
    ]);
    personIds.signerA = signer!.personId;
    const petitionOrg = await t.services.petitions.createPetition({
      slug: 'matrix-org',
      title: 'Matrix organisation petition',
    });
    Object.assign(petitionIds, { a: petitionA.row.id, org: petitionOrg.row.id });

    for (const role of ['owner', 'admin', 'organiser', 'viewer'] as Role[])
      users[role] = await signIn(t, role);
    users.leaderA = await signIn(t, 'organiser');
    users.leaderB = await signIn(t, 'organiser');
    await g.setLeader(a.id, users.leaderA.email);
    await g.setLeader(b.id, users.leaderB.email);

    for (const [name, groupId] of [
      ['all', null],
      ['a', a.id],
      ['b', b.id],
    ] as const) {
      apiKeys[name] = (
        await t.services.api.createApiKey({ name: `key ${name}`, scope: 'read', groupId, createdBy: null })
      ).secret;
    }
  });
  afterAll(async () => {
    await t.close();
  });

  const emailsIn = (body: string) =>
    everyone.filter((name) => body.includes(`${name.toLowerCase()}@matrix.example`));
  const formHeaders = (user: SignedIn) => ({
    cookie: user.cookie,
    'content-type': 'application/x-www-form-urlencoded',
  });

  for (const who of roles) {
    it(`${who}: people list, person page and export`, async () => {
      const user = users[who]!;
      const headers = { cookie: user.cookie };
      const list = await t.app.inject({ url: '/admin/people', headers });
      expect(list.statusCode).toBe(200);
      expect(emailsIn(list.body)).toEqual(visible[who]);

      // Search cannot widen the scope.
      const search = await t.app.inject({ url: '/admin/people?q=matrix.example', headers });
      expect(emailsIn(search.body)).toEqual(visible[who]);

      for (const name of everyone) {
        const page = await t.app.inject({ url: `/admin/people/${personIds[name]}`, headers });
        expect([name, page.statusCode]).toEqual([name, visible[who]!.includes(name) ? 200 : 404]);
      }

      const exported = await t.app.inject({ url: '/admin/people/export.csv', headers });
      if (who === 'viewer') {
        expect(exported.statusCode).toBe(403);
      } else {
        expect(exported.statusCode).toBe(200);
        expect(emailsIn(exported.body)).toEqual(visible[who]);
      }

      const members = await t.app.inject({ url: `/admin/groups/${groupIds.a}/members`, headers });
      if (who === 'leaderB') expect(members.statusCode).toBe(404);
      else expect(emailsIn(members.body)).toEqual(['onlyA', 'both', 'ruleA', 'signerA']);

      // Every view of personal data is in the audit log, with who looked.
      const audit = await t.ctx.db
        .selectFrom('audit_log')
        .selectAll()
        .where('user_id', '=', user.userId)
        .execute();
      const actions = new Set(audit.map((a) => a.action));
      expect(actions.has('people.search')).toBe(true);
      expect(actions.has('person.view')).toBe(true);
      if (who !== 'viewer') expect(actions.has('people.export')).toBe(true);
      const viewed = audit.filter((a) => a.action === 'person.view').map((a) => a.subject_id);
      expect(viewed.sort()).toEqual(visible[who]!.map((name) => personIds[name]).sort());
    });

    it(`${who}: audience count, mailings, petition pages and the API`, async () => {
      const user = users[who]!;
      const headers = { cookie: user.cookie };
      const leader = who.startsWith('leader');

      // Audience builder: the exact count of who a mailing would reach (organisers and up).
      const count = await t.app.inject({ url: '/admin/mailings/audience-count', headers });
      if (who === 'viewer') expect(count.statusCode).toBe(403);
      else expect([count.statusCode, count.json().count]).toEqual([200, visible[who]!.length]);

      // Mailings: compose and send now; recipients are chosen in the service, within the scope.
      const compose = await t.app.inject({
        method: 'POST',
        url: '/admin/mailings',
        headers: formHeaders(user),
        payload: new URLSearchParams({
          _csrf: user.csrf,
          from_name: 'Matrix',
          from_address: 'matrix@act.example',
          subject: `For ${who}`,
          body: 'Hello {{ given_name }}',
          format: 'markdown',
        }).toString(),
      });
      if (who === 'viewer') {
        expect(compose.statusCode).toBe(403);
      } else {
        expect(compose.statusCode).toBe(303);
        const id = /\/admin\/mailings\/([^?]+)/.exec(compose.headers.location!)![1]!;
        mailingIds[who] = id;
        const send = await t.app.inject({
          method: 'POST',
          url: `/admin/mailings/${id}/schedule`,
          headers: formHeaders(user),
          payload: new URLSearchParams({ _csrf: user.csrf, when: 'now' }).toString(),
        });
        expect(send.statusCode).toBe(303);
        const recipients = await t.ctx.db
          .selectFrom('mailing_recipients')
          .select('email')
          .where('mailing_id', '=', id)
          .execute();
        expect(emailsIn(recipients.map((r) => r.email).join(' '))).toEqual(visible[who]);
        expect(recipients).toHaveLength(visible[who]!.length);
      }
      const mailingList = await t.app.inject({ url: '/admin/mailings', headers });
      expect(mailingList.statusCode).toBe(200);
      for (const [other, id] of Object.entries(mailingIds)) {
        const seen = !leader || other === who;
        expect([other, mailingList.body.includes(`For ${other}`)]).toEqual([other, seen]);
        const report = await t.app.inject({ url: `/admin/mailings/${id}`, headers });
        expect([other, report.statusCode]).toEqual([other, seen ? 200 : 404]);
      }

      // Petitions: group A's petition and its signer pages; the organisation's own petition.
      const listPage = await t.app.inject({ url: '/admin/petitions', headers });
      expect(listPage.body.includes('Matrix A petition')).toBe(who !== 'leaderB');
      expect(listPage.body.includes('Matrix organisation petition')).toBe(!leader);
      const ownedByA = who === 'leaderB' ? 404 : 200;
      for (const path of ['', '/signatures.csv', '/delivery.pdf']) {
        const res = await t.app.inject({ url: `/admin/petitions/${petitionIds.a}${path}`, headers });
        expect([path, res.statusCode]).toEqual([path, ownedByA]);
        if (path === '/signatures.csv' && ownedByA === 200) expect(res.body).toContain('Sigrid');
      }
      const orgPetition = await t.app.inject({ url: `/admin/petitions/${petitionIds.org}`, headers });
      expect(orgPetition.statusCode).toBe(leader ? 404 : 200);

      // API: leaders' rows use keys limited to their group; the others an unlimited key.
      const api = await t.app.inject({
        url: '/api/v1/people?per_page=100',
        headers: { 'osdi-api-token': apiKeys[keyOf(who)]! },
      });
      expect(api.statusCode).toBe(200);
      expect(emailsIn(api.body)).toEqual(visible[who]);
      // Only owners and admins make API keys.
      const keysPage = await t.app.inject({ url: '/admin/api-keys', headers });
      expect(keysPage.statusCode).toBe(['owner', 'admin'].includes(who) ? 200 : 403);
    });
  }

  it('leaders cannot aim a mailing or a petition at another group, nor preview as its members', async () => {
    const leaderA = users.leaderA!;
    const toB = await t.app.inject({
      method: 'POST',
      url: '/admin/mailings',
      headers: formHeaders(leaderA),
      payload: new URLSearchParams({
        _csrf: leaderA.csrf,
        from_name: 'Matrix',
        from_address: 'matrix@act.example',
        subject: 'Sneaky',
        body: 'Hello',
        format: 'markdown',
        aud_groups: groupIds.b!,
      }).toString(),
    });
    expect(toB.statusCode).toBe(403);
    expect(toB.body).toContain('only mail the members of the groups you lead');
    expect((await t.services.mailings.listMailings()).some((m) => m.subject === 'Sneaky')).toBe(false);

    // The service limits the audience whoever calls it: a leader's count inside another group's.
    const asLeader = { id: leaderA.userId, role: 'organiser' };
    expect(await t.services.mailings.countAudience({ groups: [groupIds.b!] }, asLeader)).toBe(1); // both
    await expect(
      t.services.mailings.createMailing(
        {
          fromName: 'x',
          fromAddress: 'x@act.example',
          subject: 'x',
          body: 'x',
          format: 'markdown',
          audience: { groups: [groupIds.b!] },
        },
        leaderA.userId,
        asLeader,
      ),
    ).rejects.toMatchObject({ code: 'forbidden' });

    const preview = (as: string) =>
      t.app.inject({
        url: `/admin/mailings/${mailingIds.leaderA}/preview?as=${encodeURIComponent(as)}`,
        headers: { cookie: leaderA.cookie },
      });
    expect((await preview('onlyb@matrix.example')).statusCode).toBe(400);
    const own = await preview('onlya@matrix.example');
    expect(own.statusCode).toBe(200);
    const detail = await t.app.inject({
      url: `/admin/mailings/${mailingIds.leaderA}`,
      headers: { cookie: leaderA.cookie },
    });
    expect(detail.body).toMatch(/Limited to members of<\/th>\s*<td>Local A<\/td>/);

    // The petition form offers a leader their own groups only, and no organisation-wide choice.
    const newPetition = await t.app.inject({
      url: '/admin/petitions/new',
      headers: { cookie: leaderA.cookie },
    });
    expect(newPetition.body).toContain(`<option value="${groupIds.a}"`);
    expect(newPetition.body).not.toContain(`<option value="${groupIds.b}"`);
    expect(newPetition.body).not.toContain('The whole organisation');
    const asOrganiser = await t.app.inject({
      url: '/admin/petitions/new',
      headers: { cookie: users.organiser!.cookie },
    });
    expect(asOrganiser.body).toContain(`<option value="${groupIds.b}"`);
    expect(asOrganiser.body).toContain('The whole organisation');

    const petitionForm = (groupId: string, slug: string) =>
      t.app.inject({
        method: 'POST',
        url: '/admin/petitions',
        headers: formHeaders(leaderA),
        payload: new URLSearchParams({
          _csrf: leaderA.csrf,
          slug,
          title: `Leader petition ${slug}`,
          goal: '100',
          group_id: groupId,
        }).toString(),
      });
    expect((await petitionForm(groupIds.b!, 'leader-to-b')).statusCode).toBe(403);
    expect((await petitionForm('', 'leader-to-org')).statusCode).toBe(303);
    const created = await t.services.petitions.getPetitionBySlug('leader-to-org');
    // No group chosen: the petition belongs to the leader's group.
    expect(created.row.group_id).toBe(groupIds.a);

    // The outbox holds messages to anyone: still refused to leaders.
    expect(
      (await t.app.inject({ url: '/admin/outbox', headers: { cookie: leaderA.cookie } })).statusCode,
    ).toBe(403);
  });

  it('leader of A never sees a member only of B through the service either', async () => {
    const leaderA = { id: users.leaderA!.userId, role: 'organiser' };
    const result = await t.services.people.searchPeople({ viewer: leaderA, perPage: 500 });
    expect(result.people.map((p) => p.id)).not.toContain(personIds.onlyB);
    await expect(t.services.people.getPerson(personIds.onlyB!, leaderA)).rejects.toMatchObject({
      code: 'not_found',
    });
    const streamed: string[] = [];
    for await (const person of t.services.people.streamPeople({ viewer: leaderA })) streamed.push(person.id);
    expect(streamed.sort()).toEqual(visible.leaderA!.map((name) => personIds[name]).sort());
    await expect(t.services.mailings.getMailing(mailingIds.leaderB!, leaderA)).rejects.toMatchObject({
      code: 'not_found',
    });
  });
});

describe('groups: district rules', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await createTestRuntime();
  });
  afterAll(async () => {
    await t.services.petitions.close();
    await t.close();
  });

  it('a district rule takes in people whose postal code the district map puts there', async () => {
    const group = await t.services.groups.createGroup({ name: 'Assembly District 7', level: 'local' });
    await t.services.groups.addRule(group.id, 'district', 'AD-07');
    const [inside, outside] = await t.services.people.mergePeople(t.ctx.db, [
      { email: 'inside@example.org', address: { postalCode: '95814' } },
      { email: 'outside@example.org', address: { postalCode: '90001' } },
    ]);
    expect(await t.services.groups.isMember(group.id, inside!.personId)).toBe(false);
    await t.services.petitions.importDistricts(
      null,
      '95814,AD-07,Assembly District 7\n90001,AD-54,Assembly District 54\n',
    );
    expect(await t.services.groups.isMember(group.id, inside!.personId)).toBe(true);
    expect(await t.services.groups.isMember(group.id, outside!.personId)).toBe(false);
    expect(await t.services.groups.countMembers(group.id)).toBe(1);
  });
});

describe('groups admin: members as the dashboard last counted them', () => {
  let t: T;
  let owner: SignedIn;
  beforeAll(async () => {
    t = await createTestApp();
    owner = await signIn(t, 'owner');
  });
  afterAll(async () => {
    await t.services.petitions.close();
    await t.close();
  });

  /** [group name, members shown] per row of the groups list. */
  function membersShown(body: string): [string, number][] {
    const rows = body.matchAll(
      /<a href="\/admin\/groups\/[^"]+">([^<]+)<\/a><\/td>\s*<td>[^<]*<\/td>\s*<td>([\d,]+)<\/td>/g,
    );
    return [...rows].map((m) => [m[1]!, Number(m[2]!.replace(/,/g, ''))]);
  }

  it('shows the kept member counts until they are counted again', async () => {
    const { groups, people, dashboard } = t.services;
    const state = await groups.createGroup({ name: 'Valley', level: 'state' });
    const local = await groups.createGroup({ name: 'Valley North', level: 'local', parentId: state.id });
    await groups.addRule(local.id, 'postal_prefix', '937');
    await people.mergePeople(t.ctx.db, [{ email: 'first@example.org', address: { postalCode: '93701' } }]);
    const kept = await dashboard.refreshStoredNumbers();
    const at = kept.computedAt.slice(0, 16).replace('T', ' ');

    // A second person matches the rule: counted now there are two, the pages show the kept one.
    await people.mergePeople(t.ctx.db, [{ email: 'second@example.org', address: { postalCode: '93702' } }]);
    expect(await groups.countMembers(local.id)).toBe(2);
    const headers = { cookie: owner.cookie };
    const list = await t.app.inject({ url: '/admin/groups', headers });
    expect(list.statusCode).toBe(200);
    expect(membersShown(list.body)).toEqual([
      ['Valley', 1],
      ['Valley North', 1],
    ]);
    expect(list.body).toContain(`Members counted at ${at} UTC`);
    const detail = await t.app.inject({ url: `/admin/groups/${local.id}`, headers });
    expect(detail.body).toContain(`1 members (with sub-groups and rules; Members counted at ${at} UTC`);

    await dashboard.refreshStoredNumbers();
    const recounted = await t.app.inject({ url: '/admin/groups', headers });
    expect(membersShown(recounted.body)).toEqual([
      ['Valley', 2],
      ['Valley North', 2],
    ]);
  });

  it('counts a group created since the numbers were kept', async () => {
    const { groups } = t.services;
    const group = await groups.createGroup({ name: 'Valley South', level: 'local' });
    await groups.addRule(group.id, 'postal_prefix', '9370');
    const list = await t.app.inject({ url: '/admin/groups', headers: { cookie: owner.cookie } });
    expect(membersShown(list.body)).toContainEqual(['Valley South', 2]);
  });
});
