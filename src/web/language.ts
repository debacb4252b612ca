/** Languages the public pages (petitions, events, groups) are offered in. */
export const publicLanguages = ['en', 'es'] as const;
export type PublicLanguage = (typeof publicLanguages)[number];

function supported(tag: string): PublicLanguage | null {
  const primary = tag.trim().slice(0, 2).toLowerCase();
  return (publicLanguages as readonly string[]).includes(primary) ? (primary as PublicLanguage) : null;
}

/**
 * The language of a public page: `?lang=` when it names one we offer, else the most preferred
 * language of the browser's Accept-Language that we offer, else English.
 */
export function choosePublicLanguage(
  requested: string | undefined | null,
  acceptLanguage: string | undefined | null,
): PublicLanguage {
  const asked = requested ? supported(requested) : null;
  if (asked) return asked;
  const ranked = (acceptLanguage ?? '')
    .slice(0, 500)
    .split(',')
    .map((part, index) => {
      const [tag = '', ...params] = part.split(';');
      const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)?.[1]).find(Boolean);
      return { tag, q: q === undefined ? 1 : Number(q), index };
    })
    .filter((entry) => entry.q > 0 && Number.isFinite(entry.q))
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const entry of ranked) {
    const language = supported(entry.tag);
    if (language) return language;
  }
  return 'en';
}
