import { html, raw, type HtmlValue, type SafeHtml } from '../../web/html.ts';
import { publicPage } from '../../web/layout.ts';
import { formatNumber, messages, type Language } from '../i18n.ts';
import type { CommentRow } from '../store.ts';
import type { Petition, PetitionTexts, PublicCount } from '../types.ts';

export const ASSET_PREFIX = '/petitions/-';

/** Signing stops after the end date (a UTC day), as the service enforces. */
function isPastEndDate(petition: Petition): boolean {
  const end = petition.row.end_date;
  return end !== null && end < new Date().toISOString().slice(0, 10);
}

export interface FormValues {
  givenName?: string | undefined;
  familyName?: string | undefined;
  email?: string | undefined;
  postalCode?: string | undefined;
  locality?: string | undefined;
  phone?: string | undefined;
  comment?: string | undefined;
  consent?: boolean | undefined;
  answers?: Record<string, string> | undefined;
}

export interface PetitionPageInput {
  petition: Petition;
  texts: PetitionTexts;
  bodyHtml: string;
  lang: Language;
  languages: string[];
  count: PublicCount;
  comments: CommentRow[];
  publicUrl: string;
  ref: string | null;
  source: string | null;
  altcha: boolean;
  error?: string | null;
  values?: FormValues;
}

function head(
  title: string,
  description: string,
  url: string,
  image: string | null,
  extra?: HtmlValue,
): SafeHtml {
  return html`<meta name="description" content="${description}" />
    <meta property="og:type" content="website" />
    <meta property="og:title" content="${title}" />
    <meta property="og:description" content="${description}" />
    <meta property="og:url" content="${url}" />
    ${image ? html`<meta property="og:image" content="${image}" />` : ''}
    <meta name="twitter:card" content="${image ? 'summary_large_image' : 'summary'}" />
    <link rel="canonical" href="${url}" />
    <link rel="stylesheet" href="${ASSET_PREFIX}/petitions.css" />
    <script src="${ASSET_PREFIX}/petition.js" defer></script>
    ${extra}`;
}

export function counterBlock(slug: string, count: PublicCount, lang: Language): SafeHtml {
  const m = messages(lang);
  const percent = Math.min(100, Math.round((count.count / Math.max(1, count.displayGoal)) * 100));
  return html`<section
    class="counter"
    aria-label="${m.goalLabel}"
    data-count-url="/petitions/${slug}/count.json"
  >
    <p class="count-line" aria-live="polite">
      <strong class="count" data-count>${formatNumber(count.count, lang)}</strong>
      ${m.signaturesOf} <span data-goal>${formatNumber(count.displayGoal, lang)}</span>
    </p>
    <svg class="bar" aria-hidden="true" viewBox="0 0 100 1" preserveAspectRatio="none" focusable="false">
      <rect width="100" height="1" class="bar-track"></rect>
      <rect width="${percent}" height="1" class="bar-fill" data-bar></rect>
    </svg>
    <progress class="visually-hidden" max="${count.displayGoal}" value="${count.count}" data-progress>
      ${percent}%
    </progress>
  </section>`;
}

function field(
  id: string,
  label: string,
  rule: 'required' | 'optional',
  options: { type?: string; autocomplete?: string; value?: string | undefined; inputmode?: string },
  m: ReturnType<typeof messages>,
): SafeHtml {
  return html`<p class="field">
    <label for="${id}"
      >${label}${rule === 'optional' ? html` <span class="hint">${m.optional}</span>` : ''}</label
    >
    <input
      id="${id}"
      name="${id.replace(/-/g, '_')}"
      type="${options.type ?? 'text'}"
      ${options.autocomplete ? html`autocomplete="${options.autocomplete}"` : ''}
      ${options.inputmode ? html`inputmode="${options.inputmode}"` : ''}
      ${rule === 'required' ? html`required aria-required="true"` : ''}
      value="${options.value ?? ''}"
    />
  </p>`;
}

export function signForm(input: {
  petition: Petition;
  lang: Language;
  ref: string | null;
  source: string | null;
  altcha: boolean;
  error?: string | null | undefined;
  values?: FormValues | undefined;
  compact?: boolean;
}): SafeHtml {
  const { petition, lang, values = {} } = input;
  const m = messages(lang);
  const settings = petition.formSettings;
  const slug = petition.row.slug;
  return html`<form method="post" action="/petitions/${slug}/sign" class="sign-form" data-sign-form>
    ${input.error ? html`<p class="error" role="alert" id="sign-error">${input.error}</p>` : ''}
    ${field('given-name', m.givenName, 'required', { autocomplete: 'given-name', value: values.givenName }, m)}
    ${field('family-name', m.familyName, 'optional', { autocomplete: 'family-name', value: values.familyName }, m)}
    ${field('email', m.email, 'required', { type: 'email', autocomplete: 'email', value: values.email }, m)}
    ${
      settings.postalCode !== 'hidden'
        ? field(
            'postal-code',
            m.postalCode,
            settings.postalCode,
            { autocomplete: 'postal-code', value: values.postalCode },
            m,
          )
        : ''
    }
    ${
      settings.locality !== 'hidden'
        ? field(
            'locality',
            m.city,
            settings.locality,
            { autocomplete: 'address-level2', value: values.locality },
            m,
          )
        : ''
    }
    ${
      settings.phone !== 'hidden'
        ? field(
            'phone',
            m.phone,
            settings.phone,
            { type: 'tel', autocomplete: 'tel', value: values.phone },
            m,
          )
        : ''
    }
    ${settings.questions.map(
      (q) =>
        html`<p class="field">
          <label for="q-${q.id}"
            >${q.label}${q.required ? '' : html` <span class="hint">${m.optional}</span>`}</label
          >
          <input
            id="q-${q.id}"
            name="q_${q.id}"
            type="text"
            ${q.required ? html`required aria-required="true"` : ''}
            value="${values.answers?.[q.id] ?? ''}"
          />
        </p>`,
    )}
    ${
      input.compact
        ? ''
        : html`<p class="field">
            <label for="comment">${m.comment}</label>
            <textarea id="comment" name="comment" rows="3" maxlength="2000">${values.comment ?? ''}</textarea>
          </p>`
    }
    <p class="field checkbox">
      <input id="consent" name="consent" type="checkbox" value="yes" ${values.consent ? 'checked' : ''} />
      <label for="consent">${m.consent}</label>
    </p>
    <div class="hp" aria-hidden="true">
      <label for="website">${m.honeypot}</label>
      <input id="website" name="website" type="text" tabindex="-1" autocomplete="off" value="" />
    </div>
    <input type="hidden" name="lang" value="${lang}" />
    ${input.ref ? html`<input type="hidden" name="ref" value="${input.ref}" />` : ''}
    ${input.source ? html`<input type="hidden" name="source" value="${input.source}" />` : ''}
    ${
      input.altcha
        ? html`<input type="hidden" name="altcha" value="" data-altcha="${ASSET_PREFIX}/altcha-challenge" />`
        : ''
    }
    <p><button type="submit" class="sign-button">${m.sign}</button></p>
  </form>`;
}

function languageLinks(slug: string, languages: string[], current: Language, extra: string): SafeHtml {
  if (languages.length < 2) return html``;
  const names: Record<string, string> = { en: 'English', es: 'Español' };
  return html`<nav class="languages" aria-label="${messages(current).language}">
    <ul>
      ${languages.map(
        (l) =>
          html`<li>
            ${
              l === current
                ? html`<span aria-current="true" lang="${l}">${names[l] ?? l}</span>`
                : html`<a href="/petitions/${slug}?lang=${l}${extra}" lang="${l}" hreflang="${l}"
                    >${names[l] ?? l}</a
                  >`
            }
          </li>`,
      )}
    </ul>
  </nav>`;
}

export function petitionPage(input: PetitionPageInput): SafeHtml {
  const { petition, texts, lang, count } = input;
  const m = messages(lang);
  const row = petition.row;
  const url = `${input.publicUrl}/petitions/${row.slug}${lang === row.language ? '' : `?lang=${lang}`}`;
  const extra = `${input.ref ? `&ref=${encodeURIComponent(input.ref)}` : ''}${input.source ? `&source=${encodeURIComponent(input.source)}` : ''}`;
  const statusNote =
    row.status === 'closed' || isPastEndDate(petition) ? m.closed : row.status === 'draft' ? m.draft : null;
  return publicPage({
    title: texts.title,
    lang,
    head: head(texts.title, texts.summary || texts.title, url, row.image_url),
    body: html`<article class="petition">
      ${languageLinks(row.slug, input.languages, lang, extra)}
      <header>
        <h1>${texts.title}</h1>
        ${row.image_url ? html`<img class="hero" src="${row.image_url}" alt="" />` : ''}
        ${texts.summary ? html`<p class="summary">${texts.summary}</p>` : ''}
        ${
          row.bill_reference
            ? html`<p class="bill">
                <strong>${m.bill}:</strong>
                ${row.bill_url ? html`<a href="${row.bill_url}" rel="noopener">${row.bill_reference}</a>` : row.bill_reference}
              </p>`
            : ''
        }
      </header>
      ${counterBlock(row.slug, count, lang)}
      <section class="sign" aria-labelledby="sign-heading">
        <h2 id="sign-heading">${m.signHeading}</h2>
        ${
          statusNote
            ? html`<p class="notice" role="status">${statusNote}</p>`
            : signForm({
                petition,
                lang,
                ref: input.ref,
                source: input.source,
                altcha: input.altcha,
                error: input.error,
                values: input.values,
              })
        }
      </section>
      <div class="petition-body">${raw(input.bodyHtml)}</div>
      ${
        petition.targets.length
          ? html`<section aria-labelledby="targets-heading">
              <h2 id="targets-heading">${m.targets}</h2>
              <ul class="targets">
                ${petition.targets.map(
                  (t) =>
                    html`<li>
                      <strong>${t.name}</strong>${t.title ? html`, ${t.title}` : ''}${
                        t.district ? html` <span class="hint">(${t.district})</span>` : ''
                      }
                    </li>`,
                )}
              </ul>
            </section>`
          : ''
      }
      ${
        input.comments.length
          ? html`<section aria-labelledby="comments-heading">
              <h2 id="comments-heading">${m.whySigned}</h2>
              <ul class="comments">
                ${input.comments.map(
                  (c) =>
                    html`<li>
                      <blockquote>${c.comment}</blockquote>
                      <p class="hint">— ${c.signer_name}${c.locality ? html`, ${c.locality}` : ''}</p>
                    </li>`,
                )}
              </ul>
            </section>`
          : ''
      }
    </article>`,
  });
}

export function shareBlock(shareUrl: string, title: string, lang: Language): SafeHtml {
  const m = messages(lang);
  const text = `${title} ${shareUrl}`;
  const enc = encodeURIComponent;
  return html`<section class="share" aria-labelledby="share-heading">
    <h2 id="share-heading">${m.shareHeading}</h2>
    <p>${m.shareText}</p>
    <p class="field">
      <label for="share-url">${m.shareLinkLabel}</label>
      <input id="share-url" type="text" readonly value="${shareUrl}" data-share-url />
    </p>
    <ul class="share-buttons">
      <li>
        <button type="button" data-copy="${shareUrl}" data-copied="${m.copied}" hidden>${m.copyLink}</button>
      </li>
      <li><a href="mailto:?subject=${enc(title)}&body=${enc(text)}">${m.shareEmail}</a></li>
      <li><a href="https://wa.me/?text=${enc(text)}" rel="noopener" target="_blank">WhatsApp</a></li>
      <li>
        <a
          href="https://twitter.com/intent/tweet?text=${enc(title)}&url=${enc(shareUrl)}"
          rel="noopener"
          target="_blank"
          >X</a
        >
      </li>
      <li>
        <a href="https://www.facebook.com/sharer/sharer.php?u=${enc(shareUrl)}" rel="noopener" target="_blank"
          >Facebook</a
        >
      </li>
    </ul>
    <p class="hint" aria-live="polite" data-copy-status></p>
  </section>`;
}

export function thanksPage(input: {
  petition: Petition;
  texts: PetitionTexts;
  thankYouHtml: string;
  lang: Language;
  status: 'signed' | 'pending' | 'already' | 'confirmed' | 'already_confirmed';
  shareUrl: string;
  count: PublicCount;
}): SafeHtml {
  const m = messages(input.lang);
  const { status } = input;
  const heading =
    status === 'pending'
      ? m.pendingHeading
      : status === 'already'
        ? m.alreadyHeading
        : status === 'confirmed' || status === 'already_confirmed'
          ? m.confirmedHeading
          : m.thanksHeading;
  const text =
    status === 'pending'
      ? m.pendingText
      : status === 'already'
        ? m.alreadyText
        : status === 'confirmed'
          ? m.confirmedText
          : status === 'already_confirmed'
            ? m.alreadyConfirmed
            : null;
  const slug = input.petition.row.slug;
  return publicPage({
    title: `${heading} · ${input.texts.title}`,
    lang: input.lang,
    head: html`<meta name="robots" content="noindex" />
      <link rel="stylesheet" href="${ASSET_PREFIX}/petitions.css" />
      <script src="${ASSET_PREFIX}/petition.js" defer></script>`,
    body: html`<article class="petition thanks">
      <h1>${heading}</h1>
      ${text ? html`<p class="lead" role="status">${text}</p>` : ''}
      <p><em>${input.texts.title}</em></p>
      ${status !== 'pending' && input.thankYouHtml ? html`<div class="thank-you">${raw(input.thankYouHtml)}</div>` : ''}
      ${counterBlock(slug, input.count, input.lang)}
      ${shareBlock(input.shareUrl, input.texts.title, input.lang)}
      <p>
        <a href="/petitions/${slug}${input.lang === input.petition.row.language ? '' : `?lang=${input.lang}`}"
          >${m.backToPetition}</a
        >
      </p>
    </article>`,
  });
}

export function embedPage(input: {
  petition: Petition;
  texts: PetitionTexts;
  lang: Language;
  count: PublicCount;
  publicUrl: string;
  altcha: boolean;
  ref: string | null;
  source: string | null;
}): SafeHtml {
  const { petition, texts, lang } = input;
  const m = messages(lang);
  const slug = petition.row.slug;
  return publicPage({
    title: texts.title,
    lang,
    head: html`<link rel="stylesheet" href="${ASSET_PREFIX}/petitions.css" />
      <script src="${ASSET_PREFIX}/petition.js" defer></script>`,
    body: html`<div class="embed">
      <h1 class="embed-title">
        <a
          href="${input.publicUrl}/petitions/${slug}${lang === petition.row.language ? '' : `?lang=${lang}`}"
          target="_blank"
          rel="noopener"
          >${texts.title}</a
        >
      </h1>
      ${counterBlock(slug, input.count, lang)}
      ${
        petition.row.status === 'open' && !isPastEndDate(petition)
          ? signForm({
              petition,
              lang,
              ref: input.ref,
              source: input.source ?? 'embed',
              altcha: input.altcha,
              compact: true,
            })
          : html`<p class="notice">${m.closed}</p>`
      }
    </div>`,
  });
}

/** What the emailed link opens: a button, so only the person's click confirms (not a mail scanner). */
export function confirmPage(input: {
  petition: Petition;
  texts: PetitionTexts;
  token: string;
  lang: Language;
}): SafeHtml {
  const m = messages(input.lang);
  const slug = input.petition.row.slug;
  return publicPage({
    title: `${m.confirmHeading} · ${input.texts.title}`,
    lang: input.lang,
    head: html`<meta name="robots" content="noindex" />
      <link rel="stylesheet" href="${ASSET_PREFIX}/petitions.css" />`,
    body: html`<article class="petition thanks">
      <h1>${m.confirmHeading}</h1>
      <p><em>${input.texts.title}</em></p>
      <p class="lead">${m.confirmText}</p>
      <form method="post" action="/petitions/${slug}/confirm">
        <input type="hidden" name="token" value="${input.token}" />
        <input type="hidden" name="lang" value="${input.lang}" />
        <button type="submit" class="sign-button">${m.confirmButton}</button>
      </form>
    </article>`,
  });
}

export function confirmErrorPage(message: string, slug: string, lang: Language): SafeHtml {
  const m = messages(lang);
  return publicPage({
    title: lang === 'es' ? 'Enlace no válido' : 'Link not valid',
    lang,
    body: html`<h1>${lang === 'es' ? 'Enlace no válido' : 'This link does not work'}</h1>
      <p role="alert">${message}</p>
      <p><a href="/petitions/${slug}${lang === 'en' ? '' : `?lang=${lang}`}">${m.backToPetition}</a></p>`,
  });
}
