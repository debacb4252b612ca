import type { Migration } from 'kysely/migration';
import * as m0001 from './0001-spine.ts';
import * as m0002 from './0002-mail-core.ts';
import * as m0004 from './0004-petitions.ts';
import * as m0005 from './0005-mailings.ts';
import * as m0006 from './0006-api.ts';
import * as m0007 from './0007-groups-events.ts';
import * as m0008 from './0008-groups-scope.ts';
import * as m0009 from './0009-api-feed.ts';
import * as m0010 from './0010-security.ts';
import * as m0011 from './0011-scale.ts';
import * as m0012 from './0012-signature-intake.ts';
import * as m0013 from './0013-rate-limits.ts';
import * as m0014 from './0014-search.ts';
import * as m0015 from './0015-dashboard.ts';
import * as m0016 from './0016-intake-keys.ts';
import * as m0017 from './0017-mailing-senders.ts';
import * as m0018 from './0018-email-trigrams.ts';

/** Every migration, in order. Names sort in the order they run. */
export const migrations: Record<string, Migration> = {
  '0001-spine': m0001,
  '0002-mail-core': m0002,
  '0004-petitions': m0004,
  '0005-mailings': m0005,
  '0006-api': m0006,
  '0007-groups-events': m0007,
  '0008-groups-scope': m0008,
  '0009-api-feed': m0009,
  '0010-security': m0010,
  '0011-scale': m0011,
  '0012-signature-intake': m0012,
  '0013-rate-limits': m0013,
  '0014-search': m0014,
  '0015-dashboard': m0015,
  '0016-intake-keys': m0016,
  '0017-mailing-senders': m0017,
  '0018-email-trigrams': m0018,
};
