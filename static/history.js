// Live total of the selected rows in "Storico pagamenti". The page computes the same total on
// the server ("Aggiorna il totale"); this only saves a round trip when JavaScript is on.
(function () {
  var form = document.getElementById('selezione');
  if (!form) return;
  var count = document.getElementById('n-selezionati');
  var total = document.getElementById('totale-importi');
  function euro(cents) {
    var s = (cents / 100).toFixed(2).split('.');
    return s[0].replace(/\B(?=(\d{3})+(?!\d))/g, '.') + ',' + s[1] + ' \u20ac';
  }
  function update() {
    var boxes = form.querySelectorAll('input.seleziona:checked');
    var sum = 0;
    for (var i = 0; i < boxes.length; i++) sum += parseInt(boxes[i].getAttribute('data-cents'), 10) || 0;
    count.textContent = String(boxes.length);
    total.textContent = euro(sum);
  }
  form.addEventListener('change', update);
})();
