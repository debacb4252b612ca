import { Type, type Static } from '@sinclair/typebox';
import { html, type SafeHtml } from './html.ts';
import type { PublicLanguage } from './language.ts';

/** The body those forms post (every field optional: the service says what is missing). */
export const personFieldsBody = Type.Object({
  email: Type.Optional(Type.String({ maxLength: 320 })),
  given_name: Type.Optional(Type.String({ maxLength: 200 })),
  family_name: Type.Optional(Type.String({ maxLength: 200 })),
  postal_code: Type.Optional(Type.String({ maxLength: 40 })),
  subscribe: Type.Optional(Type.String({ maxLength: 10 })),
  website: Type.Optional(Type.String({ maxLength: 500 })),
  /** The page's language, so an error comes back in it. */
  lang: Type.Optional(Type.String({ maxLength: 10 })),
});

const labels = {
  en: {
    email: 'Email (required)',
    givenName: 'First name',
    familyName: 'Last name',
    postalCode: 'Postal code',
    honeypot: 'Leave this empty',
    languages: 'Language',
  },
  es: {
    email: 'Correo electrónico (obligatorio)',
    givenName: 'Nombre',
    familyName: 'Apellido',
    postalCode: 'Código postal',
    honeypot: 'Deja este campo vacío',
    languages: 'Idioma',
  },
};

/** Links to the same page in each language, the current one marked. */
export function languageSwitch(path: string, current: PublicLanguage): SafeHtml {
  const link = (lang: PublicLanguage, name: string) =>
    lang === current
      ? html`<strong lang="${lang}" aria-current="true">${name}</strong>`
      : html`<a href="${path}?lang=${lang}" hreflang="${lang}" lang="${lang}">${name}</a>`;
  return html`<nav class="languages" aria-label="${labels[current].languages}">
    ${link('en', 'English')} · ${link('es', 'Español')}
  </nav>`;
}
export type PersonFieldsBody = Static<typeof personFieldsBody>;

export interface PersonFieldValues {
  email?: string | undefined;
  givenName?: string | undefined;
  familyName?: string | undefined;
  postalCode?: string | undefined;
  subscribe?: boolean | undefined;
}

/** What the person typed, to show the form again after an error. */
export function personFieldValues(body: PersonFieldsBody): PersonFieldValues {
  return {
    email: body.email,
    givenName: body.given_name,
    familyName: body.family_name,
    postalCode: body.postal_code,
    subscribe: body.subscribe === 'yes',
  };
}

/** The posted fields as a person for the merge rule. */
export function personInputOf(body: PersonFieldsBody) {
  return {
    email: body.email ?? '',
    givenName: body.given_name ?? null,
    familyName: body.family_name ?? null,
    postalCode: body.postal_code ?? null,
    subscribe: body.subscribe === 'yes',
  };
}

/**
 * The fields of a public form that signs a person up (RSVP, joining a group): email, names,
 * postal code, the consent checkbox and the honeypot. `prefix` keeps the ids unique on a page.
 */
export function personFormFields(options: {
  prefix: string;
  values: PersonFieldValues;
  /** Id of the error message the email field is described by, when one is shown. */
  errorId?: string | undefined;
  subscribeLabel: string;
  lang?: PublicLanguage;
}): SafeHtml {
  const { prefix, values: v } = options;
  const lang = options.lang ?? 'en';
  const l = labels[lang];
  const text = (name: string, id: string, label: string, autocomplete: string, value: string | undefined) =>
    html`<p>
      <label for="${prefix}-${id}">${label}</label>
      <input
        id="${prefix}-${id}"
        name="${name}"
        type="text"
        autocomplete="${autocomplete}"
        value="${value ?? ''}"
      />
    </p>`;
  return html`<input type="hidden" name="lang" value="${lang}" />
    <p>
      <label for="${prefix}-email">${l.email}</label>
      <input
        id="${prefix}-email"
        name="email"
        type="email"
        required
        autocomplete="email"
        value="${v.email ?? ''}"
        ${options.errorId ? html`aria-describedby="${options.errorId}"` : ''}
      />
    </p>
    ${text('given_name', 'given', l.givenName, 'given-name', v.givenName)}
    ${text('family_name', 'family', l.familyName, 'family-name', v.familyName)}
    ${text('postal_code', 'postal', l.postalCode, 'postal-code', v.postalCode)}
    <p>
      <input
        id="${prefix}-subscribe"
        name="subscribe"
        type="checkbox"
        value="yes"
        ${v.subscribe ? 'checked' : ''}
      />
      <label for="${prefix}-subscribe">${options.subscribeLabel}</label>
    </p>
    <p class="visually-hidden" aria-hidden="true">
      <label for="${prefix}-website">${l.honeypot}</label>
      <input id="${prefix}-website" name="website" type="text" tabindex="-1" autocomplete="off" />
    </p>`;
}
