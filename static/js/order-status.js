/* The result page follows its order without a manual reload.

   <div id="order-status" data-status="unknown"
        data-watch-url="/orders/KRS.../status" data-watch-delays="2,2,3,5,8,13,20,30">

   asks the URL after each delay in turn (seconds; the last one repeats), and reloads the page as
   soon as the answer's "status" differs from data-status: the shop settled an unknown payment by
   itself, KCP's deposit notification arrived, staff confirmed the order. A failed request just
   waits for the next turn; a hidden tab is asked again when it is shown. Without JavaScript the
   page's <noscript> refresh does the same, more slowly. */
(function () {
  "use strict";

  var box = document.getElementById("order-status");
  if (!box || !box.getAttribute("data-watch-url") || !window.fetch) {
    return;
  }
  var url = box.getAttribute("data-watch-url");
  var shown = box.getAttribute("data-status");
  var delays = (box.getAttribute("data-watch-delays") || "2,3,5,8,13,20,30").split(",").map(Number)
    .filter(function (n) { return n > 0; });
  var turn = 0;
  var timer = null;
  var asking = false;

  function schedule() {
    var seconds = delays[Math.min(turn, delays.length - 1)] || 30;
    turn += 1;
    timer = window.setTimeout(look, seconds * 1000);
  }

  function look() {
    timer = null;
    if (document.hidden) {
      return;  // asked again when the tab is shown (visibilitychange below)
    }
    asking = true;
    window.fetch(url, { headers: { "Accept": "application/json" }, cache: "no-store", credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        asking = false;
        if (data && data.status && data.status !== shown) {
          box.setAttribute("data-status-changed", data.status);
          window.location.reload();
          return;
        }
        schedule();
      }, function () {
        asking = false;
        schedule();
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && timer === null && !asking) {
      look();
    }
  });
  schedule();
}());
