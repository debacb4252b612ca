export { createPeopleService } from './service.ts';
export type {
  PeopleAccessControl,
  PeopleViewer,
  PeopleFilters,
  PeoplePage,
  PeopleSearch,
  PeopleService,
  PersonDetail,
  PersonSummary,
  PersonRecord,
  NamedRecord,
  PersonFieldsUpdate,
} from './service.ts';
export type { ChangedRange, PersonIdSet } from './store.ts';
export type { ImportOptions, ImportService, ImportStatus } from './import/service.ts';
export type { EmailStatus, MergeResult, PersonInput, PostalAddressInput } from './types.ts';
export { eraseAddressesIn, normaliseEmail, tryNormaliseEmail } from './normalize.ts';
export { peoplePlugin } from './routes.ts';
export { peopleCommands } from './cli.ts';
export { exportPeopleCsv } from './export.ts';
