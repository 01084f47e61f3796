// Single logout: after the local logout, go on to the identity provider at once (the link on
// the page does the same without JavaScript).
(function () {
  var link = document.getElementById('uscita-spid');
  if (link) window.location.replace(link.href);
})();
