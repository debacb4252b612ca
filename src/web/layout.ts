import { html, type HtmlValue, type SafeHtml } from './html.ts';

export interface LayoutUser {
  email: string;
  role: string;
}

export interface PageOptions {
  title: string;
  lang?: string;
  body: HtmlValue;
  /** Extra tags for <head> (Open Graph, etc.). */
  head?: HtmlValue;
}

export interface AdminPageOptions extends PageOptions {
  user: LayoutUser;
  csrfToken: string;
  /** Which nav entry is current. */
  section?: string;
  orgName?: string;
}

export function publicPage({ title, lang = 'en', body, head }: PageOptions): SafeHtml {
  return html`<!doctype html>
    <html lang="${lang}">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title}</title>
        <link rel="stylesheet" href="/static/app.css" />
        ${head}
      </head>
      <body>
        <a class="skip" href="#main">${lang === 'es' ? 'Saltar al contenido' : 'Skip to content'}</a>
        <main id="main" class="public">${body}</main>
      </body>
    </html>`;
}

export interface NavItem {
  href: string;
  label: string;
  section: string;
  /** Roles that see the entry; all when omitted. */
  roles?: readonly string[];
}

const adminNav: NavItem[] = [
  { href: '/admin', label: 'Home', section: 'home' },
  { href: '/admin/people', label: 'People', section: 'people' },
  { href: '/admin/imports/new', label: 'Import', section: 'import', roles: ['owner', 'admin', 'organiser'] },
  { href: '/admin/users', label: 'Users', section: 'users', roles: ['owner'] },
];

/** Capabilities add their own admin menu entries at start-up. */
export function addAdminNavItem(item: NavItem): void {
  if (!adminNav.some((existing) => existing.href === item.href)) adminNav.push(item);
}

export function adminPage({
  title,
  body,
  user,
  csrfToken,
  section,
  orgName = 'Undersign',
  head,
}: AdminPageOptions): SafeHtml {
  const items = adminNav.filter((item) => !item.roles || item.roles.includes(user.role));
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="csrf-token" content="${csrfToken}" />
        <title>${title} · ${orgName} admin</title>
        <link rel="stylesheet" href="/static/app.css" />
        ${head}
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="admin-header">
          <nav aria-label="Main">
            <span class="brand">${orgName}</span>
            <ul>
              ${items.map(
                (item) =>
                  html`<li>
                    <a href="${item.href}" ${item.section === section ? html` aria-current="page"` : ''}
                      >${item.label}</a
                    >
                  </li>`,
              )}
            </ul>
          </nav>
          <form method="post" action="/admin/logout" class="logout">
            <input type="hidden" name="_csrf" value="${csrfToken}" />
            <span><a href="/admin/account">${user.email}</a> (${user.role})</span>
            <button type="submit">Sign out</button>
          </form>
        </header>
        <main id="main" class="admin">${body}</main>
      </body>
    </html>`;
}

/** Hidden CSRF field every admin form carries. */
export function csrfField(token: string): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${token}" />`;
}
