export {
  createPeopleDirectory,
  EMAIL_ONLY,
  peopleSchema,
  resolveCommandPeople,
  type KeyResult,
  type PeopleDirectory,
  type PersonEntry,
} from './people.ts';
