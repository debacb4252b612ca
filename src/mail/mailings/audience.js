/* global document, window, fetch, URLSearchParams, FormData, setTimeout, clearTimeout */
// Live exact audience count on the compose form: re-counts as the criteria change.
(function () {
  var fieldset = document.getElementById('audience');
  var output = document.getElementById('audience-count');
  if (!fieldset || !output || !window.fetch) return;
  var form = fieldset.form || fieldset.closest('form');
  var timer = null;
  var seq = 0;
  function update() {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) {
      if (key.indexOf('aud_') === 0 && typeof value === 'string') params.append(key, value);
    });
    var mine = ++seq;
    output.textContent = 'counting…';
    fetch(fieldset.getAttribute('data-count-url') + '?' + params.toString(), {
      headers: { accept: 'application/json' },
      credentials: 'same-origin',
    })
      .then(function (response) {
        return response.json();
      })
      .then(function (body) {
        if (mine !== seq) return;
        output.textContent =
          typeof body.count === 'number' ? body.count.toLocaleString('en') : body.error || 'unknown';
      })
      .catch(function () {
        if (mine === seq) output.textContent = 'unknown';
      });
  }
  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(update, 300);
  }
  fieldset.addEventListener('input', schedule);
  fieldset.addEventListener('change', schedule);
})();
