import { html, type SafeHtml } from '../web/html.ts';
import { adminPage, csrfField, publicPage } from '../web/layout.ts';
import { roleDescriptions, roles } from './roles.ts';
import type { CurrentUser, PublicUser } from './service.ts';

export function loginPage(input: {
  next: string;
  loginCsrf: string;
  email?: string;
  error?: string;
  orgName: string;
}): SafeHtml {
  return publicPage({
    title: `Sign in · ${input.orgName}`,
    body: html`<h1>Sign in to ${input.orgName}</h1>
      ${input.error ? html`<p role="alert" class="error">${input.error}</p>` : ''}
      <form method="post" action="/admin/login">
        <input type="hidden" name="_login_csrf" value="${input.loginCsrf}" />
        <input type="hidden" name="next" value="${input.next}" />
        <label for="email">Email</label>
        <input
          id="email"
          name="email"
          type="email"
          autocomplete="username"
          required
          value="${input.email ?? ''}"
        />
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required />
        <p><button type="submit">Sign in</button></p>
      </form>`,
  });
}

export function invitePage(input: {
  token: string;
  email: string | null;
  role: string;
  error?: string;
  values?: { email?: string; displayName?: string };
  orgName: string;
  minPassword: number;
}): SafeHtml {
  return publicPage({
    title: `Create your account · ${input.orgName}`,
    body: html`<h1>Create your ${input.orgName} account</h1>
      <p>You are invited as <strong>${input.role}</strong>.</p>
      ${input.error ? html`<p role="alert" class="error">${input.error}</p>` : ''}
      <form method="post" action="/admin/invite/${input.token}">
        <label for="email">Email</label>
        ${
          input.email
            ? html`<input id="email" name="email" type="email" value="${input.email}" readonly />`
            : html`<input
                id="email"
                name="email"
                type="email"
                autocomplete="username"
                required
                value="${input.values?.email ?? ''}"
              />`
        }
        <label for="display_name">Your name</label>
        <input
          id="display_name"
          name="display_name"
          type="text"
          autocomplete="name"
          value="${input.values?.displayName ?? ''}"
        />
        <label for="password">Password (at least ${input.minPassword} characters)</label>
        <input
          id="password"
          name="password"
          type="password"
          autocomplete="new-password"
          minlength="${input.minPassword}"
          required
        />
        <p><button type="submit">Create account</button></p>
      </form>`,
  });
}

export function homePage(
  user: CurrentUser,
  orgName: string,
  sections: readonly { href: string; label: string; text: string }[],
): SafeHtml {
  return adminPage({
    title: 'Home',
    section: 'home',
    user,
    csrfToken: user.csrfToken,
    orgName,
    body: html`<h1>Welcome${user.displayName ? html`, ${user.displayName}` : ''}</h1>
      <ul>
        ${sections.map((s) => html`<li><a href="${s.href}">${s.label}</a>: ${s.text}</li>`)}
      </ul>`,
  });
}

export function usersPage(input: {
  user: CurrentUser;
  users: PublicUser[];
  orgName: string;
  invite?: { url: string; role: string; expiresAt: string };
  error?: string;
  notice?: string;
}): SafeHtml {
  const { user } = input;
  return adminPage({
    title: 'Users',
    section: 'users',
    user,
    csrfToken: user.csrfToken,
    orgName: input.orgName,
    body: html`<h1>Users</h1>
      ${input.error ? html`<p role="alert" class="error">${input.error}</p>` : ''}
      ${input.notice ? html`<p role="status" class="notice">${input.notice}</p>` : ''}
      ${
        input.invite
          ? html`<section aria-labelledby="invite-made">
              <h2 id="invite-made">Invitation link</h2>
              <p>
                Send this one-time link to the new ${input.invite.role}. It is shown only now and works until
                ${input.invite.expiresAt.slice(0, 16).replace('T', ' ')} UTC.
              </p>
              <p>
                <label for="invite-url">Link</label
                ><input id="invite-url" type="text" readonly value="${input.invite.url}" />
              </p>
            </section>`
          : ''
      }
      <table>
        <caption class="visually-hidden">
          Users and their roles
        </caption>
        <thead>
          <tr>
            <th scope="col">Email</th>
            <th scope="col">Name</th>
            <th scope="col">Role</th>
            <th scope="col">Status</th>
            <th scope="col">Two-factor</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          ${input.users.map(
            (u) =>
              html`<tr>
                <td>${u.email}</td>
                <td>${u.displayName ?? ''}</td>
                <td>${u.role}</td>
                <td>${u.disabled ? 'disabled' : 'active'}</td>
                <td>
                  ${u.twoFactor ? 'on' : 'off'}
                  ${
                    u.twoFactor && u.id !== user.id
                      ? html`<form
                          method="post"
                          action="/admin/users/${u.id}/two-factor/reset"
                          class="inline"
                        >
                          ${csrfField(user.csrfToken)}<button type="submit" class="secondary">
                            Turn off two-factor sign-in of ${u.email}
                          </button>
                        </form>`
                      : ''
                  }
                </td>
                <td>
                  <form method="post" action="/admin/users/${u.id}/role" class="inline">
                    ${csrfField(user.csrfToken)}
                    <label for="role-${u.id}" class="visually-hidden">Role of ${u.email}</label>
                    <select id="role-${u.id}" name="role">
                      ${roles.map((r) => html`<option value="${r}" ${r === u.role ? html` selected` : ''}>${r}</option>`)}
                    </select>
                    <button type="submit" class="secondary">Change role</button>
                  </form>
                  ${
                    u.id === user.id
                      ? ''
                      : html`<form
                          method="post"
                          action="/admin/users/${u.id}/${u.disabled ? 'enable' : 'disable'}"
                          class="inline"
                        >
                          ${csrfField(user.csrfToken)}<button type="submit" class="secondary">
                            ${u.disabled ? 'Enable' : 'Disable'} ${u.email}
                          </button>
                        </form>`
                  }
                </td>
              </tr>`,
          )}
        </tbody>
      </table>
      <h2>Invite a user</h2>
      <form method="post" action="/admin/users/invite">
        ${csrfField(user.csrfToken)}
        <label for="invite-email">Email (optional: leave empty to let the person choose)</label>
        <input id="invite-email" name="email" type="email" />
        <label for="invite-role">Role</label>
        <select id="invite-role" name="role">
          ${roles.map((r) => html`<option value="${r}" ${r === 'organiser' ? html` selected` : ''}>${r}: ${roleDescriptions[r]}</option>`)}
        </select>
        <p><button type="submit">Create invitation link</button></p>
      </form>`,
  });
}

export function secondFactorPage(input: {
  next: string;
  loginCsrf: string;
  error?: string;
  orgName: string;
}): SafeHtml {
  return publicPage({
    title: `Sign in · ${input.orgName}`,
    body: html`<h1>Sign in to ${input.orgName}</h1>
      ${input.error ? html`<p role="alert" class="error">${input.error}</p>` : ''}
      <form method="post" action="/admin/login/code">
        <input type="hidden" name="_login_csrf" value="${input.loginCsrf}" />
        <input type="hidden" name="next" value="${input.next}" />
        <label for="code">Code from your authenticator app</label>
        <input
          id="code"
          name="code"
          type="text"
          inputmode="numeric"
          autocomplete="one-time-code"
          required
          autofocus
          aria-describedby="code-help"
        />
        <p id="code-help">Lost your phone? Type one of your recovery codes instead.</p>
        <p><button type="submit">Continue</button></p>
      </form>
      <p><a href="/admin/login">Start again</a></p>`,
  });
}

export function accountPage(input: {
  user: CurrentUser;
  orgName: string;
  twoFactor: { enabled: boolean; recoveryCodesLeft: number };
  error?: string;
  notice?: string;
}): SafeHtml {
  const { user, twoFactor } = input;
  return adminPage({
    title: 'Your account',
    section: 'account',
    user,
    csrfToken: user.csrfToken,
    orgName: input.orgName,
    body: html`<h1>Your account</h1>
      ${input.error ? html`<p role="alert" class="error">${input.error}</p>` : ''}
      ${input.notice ? html`<p role="status" class="notice">${input.notice}</p>` : ''}
      <p>Signed in as <strong>${user.email}</strong> (${user.role}).</p>
      <h2>Two-factor sign-in</h2>
      ${
        twoFactor.enabled
          ? html`<p>
                On: signing in asks for a code from your authenticator app. ${twoFactor.recoveryCodesLeft}
                unused recovery codes left.
              </p>
              <form method="post" action="/admin/account/two-factor/disable">
                ${csrfField(user.csrfToken)}
                <label for="disable-password">Your password, to turn two-factor sign-in off</label>
                <input
                  id="disable-password"
                  name="password"
                  type="password"
                  autocomplete="current-password"
                  required
                />
                <p><button type="submit" class="secondary">Turn off two-factor sign-in</button></p>
              </form>`
          : html`<p>
                Off. With it on, signing in also asks for a code from an authenticator app on your phone, so a
                stolen password alone is not enough.
              </p>
              <p><a href="/admin/account/two-factor">Set up two-factor sign-in</a></p>`
      }`,
  });
}

export function twoFactorSetupPage(input: {
  user: CurrentUser;
  orgName: string;
  secret: string;
  uri: string;
  qrSvg: SafeHtml;
  error?: string;
}): SafeHtml {
  const { user } = input;
  const grouped = input.secret.replace(/(.{4})/g, '$1 ').trim();
  return adminPage({
    title: 'Set up two-factor sign-in',
    section: 'account',
    user,
    csrfToken: user.csrfToken,
    orgName: input.orgName,
    body: html`<h1>Set up two-factor sign-in</h1>
      ${input.error ? html`<p role="alert" class="error">${input.error}</p>` : ''}
      <ol>
        <li>
          Scan this code with an authenticator app (any app for "TOTP" codes), or type the key by hand.
          <div class="qr">${input.qrSvg}</div>
          <p>Key: <code>${grouped}</code></p>
          <p>Or the full address: <code class="otpauth">${input.uri}</code></p>
        </li>
        <li>
          <form method="post" action="/admin/account/two-factor">
            ${csrfField(user.csrfToken)}
            <label for="code">Type the 6-digit code the app shows now</label>
            <input
              id="code"
              name="code"
              type="text"
              inputmode="numeric"
              autocomplete="one-time-code"
              required
            />
            <p><button type="submit">Turn on two-factor sign-in</button></p>
          </form>
        </li>
      </ol>
      <p><a href="/admin/account">Back to your account</a></p>`,
  });
}

export function recoveryCodesPage(input: { user: CurrentUser; orgName: string; codes: string[] }): SafeHtml {
  const { user } = input;
  return adminPage({
    title: 'Recovery codes',
    section: 'account',
    user,
    csrfToken: user.csrfToken,
    orgName: input.orgName,
    body: html`<h1>Two-factor sign-in is on</h1>
      <p role="status" class="notice">
        Keep these recovery codes somewhere safe. Each one signs you in once if you lose your phone. They are
        shown only now.
      </p>
      <ul class="recovery-codes">
        ${input.codes.map((c) => html`<li><code>${c}</code></li>`)}
      </ul>
      <p><a href="/admin/account">Done</a></p>`,
  });
}
