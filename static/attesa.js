// Pages waiting for something (the receipt of a payment) ask the server again every few
// seconds and reload only when its answer changes. Not a meta refresh: that moves the whole
// page under a screen reader every few seconds (WCAG 2.2.1). Without JavaScript the page's own
// "Aggiorna ora" link does the same by hand.
(function () {
  var seconds = parseInt(document.body.getAttribute('data-aggiorna'), 10);
  if (!(seconds > 0) || !window.fetch || !window.DOMParser) return;
  var heading = document.querySelector('h1');
  var current = heading ? heading.textContent : '';
  function later() { setTimeout(check, seconds * 1000); }
  function check() {
    fetch(location.href, { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var h = new DOMParser().parseFromString(html, 'text/html').querySelector('h1');
        if (h && h.textContent !== current) location.reload();
        else later();
      })
      .catch(later);
  }
  later();
})();
