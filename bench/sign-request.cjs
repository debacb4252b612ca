/* global module, URLSearchParams */
// Loaded by autocannon's worker thread: each request gets a form body with a new email, and about
// one in twenty repeats an earlier signer.
const prefix = Math.random().toString(36).slice(2, 10);
let n = 0;

module.exports = function setupRequest(request) {
  n++;
  const id = n > 50 && n % 20 === 0 ? Math.floor(n / 3) : n;
  const body = new URLSearchParams({
    email: `${prefix}-${id}@bench.example.org`,
    given_name: 'Ada',
    family_name: 'Lovelace',
    postal_code: String(94000 + (id % 200)),
    consent: 'yes',
  }).toString();
  return { ...request, body };
};
