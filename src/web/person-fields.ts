import { html, type SafeHtml } from './html.ts';

export interface PersonFieldValues {
  email?: string;
  givenName?: string;
  familyName?: string;
  postalCode?: string;
  subscribe?: boolean;
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
}): SafeHtml {
  const { prefix, values: v } = options;
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
  return html`<p>
      <label for="${prefix}-email">Email (required)</label>
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
    ${text('given_name', 'given', 'First name', 'given-name', v.givenName)}
    ${text('family_name', 'family', 'Last name', 'family-name', v.familyName)}
    ${text('postal_code', 'postal', 'Postal code', 'postal-code', v.postalCode)}
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
      <label for="${prefix}-website">Leave this empty</label>
      <input id="${prefix}-website" name="website" type="text" tabindex="-1" autocomplete="off" />
    </p>`;
}
