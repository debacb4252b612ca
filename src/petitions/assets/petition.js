/* global document, window, navigator, fetch, setInterval, TextEncoder, crypto, btoa */
// Petition pages work without this file; it adds the live counter, the anti-robot proof of work
// and the copy-link button.
(function () {
  'use strict';
  var lang = document.documentElement.lang || 'en';
  var fmt = new Intl.NumberFormat(lang);

  function pollCounter(section) {
    var url = section.getAttribute('data-count-url');
    var countEl = section.querySelector('[data-count]');
    var goalEl = section.querySelector('[data-goal]');
    var bar = section.querySelector('[data-bar]');
    var progress = section.querySelector('[data-progress]');
    function update() {
      fetch(url, { headers: { accept: 'application/json' } })
        .then(function (r) {
          return r.ok ? r.json() : null;
        })
        .then(function (data) {
          if (!data) return;
          if (countEl) countEl.textContent = fmt.format(data.count);
          if (goalEl) goalEl.textContent = fmt.format(data.displayGoal);
          var pct = Math.min(100, Math.round((data.count / Math.max(1, data.displayGoal)) * 100));
          if (bar) bar.setAttribute('width', String(pct));
          if (progress) {
            progress.max = data.displayGoal;
            progress.value = data.count;
          }
        })
        .catch(function () {});
    }
    setInterval(function () {
      if (!document.hidden) update();
    }, 15000);
  }

  function hex(buffer) {
    var bytes = new Uint8Array(buffer),
      out = '';
    for (var i = 0; i < bytes.length; i++) out += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
    return out;
  }

  // ALTCHA: find n so that SHA-256(salt + n) equals the challenge.
  function solve(challenge) {
    var enc = new TextEncoder();
    var n = 0,
      max = challenge.maxnumber || 1000000;
    function batch() {
      var tries = [];
      for (var i = 0; i < 500 && n <= max; i++, n++) {
        tries.push(
          (function (k) {
            return crypto.subtle.digest('SHA-256', enc.encode(challenge.salt + k)).then(function (d) {
              return hex(d) === challenge.challenge ? k : -1;
            });
          })(n),
        );
      }
      return Promise.all(tries).then(function (results) {
        for (var j = 0; j < results.length; j++) if (results[j] >= 0) return results[j];
        return n > max ? null : batch();
      });
    }
    return batch();
  }

  function protect(form) {
    var input = form.querySelector('input[data-altcha]');
    if (!input || !window.crypto || !crypto.subtle) return;
    var ready = fetch(input.getAttribute('data-altcha'), { headers: { accept: 'application/json' } })
      .then(function (r) {
        return r.json();
      })
      .then(function (c) {
        return solve(c).then(function (number) {
          if (number === null) return;
          input.value = btoa(
            JSON.stringify({
              algorithm: c.algorithm,
              challenge: c.challenge,
              number: number,
              salt: c.salt,
              signature: c.signature,
            }),
          );
        });
      })
      .catch(function () {});
    var waiting = false;
    form.addEventListener('submit', function (event) {
      if (input.value || waiting) return;
      event.preventDefault();
      waiting = true;
      var button = form.querySelector('button[type=submit]');
      if (button) button.disabled = true;
      ready.then(function () {
        form.submit();
      });
    });
  }

  function copyButtons() {
    var buttons = document.querySelectorAll('[data-copy]');
    for (var i = 0; i < buttons.length; i++) {
      (function (button) {
        if (!navigator.clipboard) return;
        button.hidden = false;
        button.addEventListener('click', function () {
          navigator.clipboard.writeText(button.getAttribute('data-copy')).then(function () {
            var status = document.querySelector('[data-copy-status]');
            if (status) status.textContent = button.getAttribute('data-copied');
          });
        });
      })(buttons[i]);
    }
  }

  document.querySelectorAll('[data-count-url]').forEach(pollCounter);
  document.querySelectorAll('form[data-sign-form]').forEach(protect);
  copyButtons();
})();
