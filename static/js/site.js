/* Small progressive enhancements. Every page works without this file.

   <a href="..." data-popup-width="470" data-popup-height="815">   opens in a popup window
       (KCP receipt pages are designed for fixed popup sizes); falls back to a normal link
       when popups are blocked.
   <button type="button" class="copy-btn" data-copy-target="#id" data-copied-label="Copied">
       copies the value (inputs) or text (anything else) of the target element.
   <form data-confirm="Refund ₩5,000?">   asks before submitting (refunds, cancels).
   <form data-submit-once>                disables its submit buttons once submitted, so a
       double click cannot send the same payment action twice (the server checks too). */
(function () {
  "use strict";

  function openPopup(event) {
    var link = event.target.closest("a[data-popup-width]");
    if (!link || event.defaultPrevented || event.button !== 0 ||
        event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) {
      return;
    }
    var width = parseInt(link.getAttribute("data-popup-width"), 10) || 470;
    var height = parseInt(link.getAttribute("data-popup-height"), 10) || 695;
    var left = Math.max(0, Math.round((window.screen.availWidth - width) / 2));
    var top = Math.max(0, Math.round((window.screen.availHeight - height) / 2));
    var features = "width=" + width + ",height=" + height + ",left=" + left + ",top=" + top +
      ",scrollbars=yes,resizable=yes";
    var popup = window.open(link.href, link.getAttribute("data-popup-name") || "_blank", features);
    if (popup) {
      event.preventDefault();
      popup.focus();
    }
  }

  function textOf(target) {
    if ("value" in target && typeof target.value === "string") {
      return target.value;
    }
    return target.textContent;
  }

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (err) {
      ok = false;
    }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  function copyTarget(event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) {
      return;
    }
    var target = document.querySelector(button.getAttribute("data-copy-target"));
    if (!target) {
      return;
    }
    event.preventDefault();
    var text = textOf(target);
    var copying = navigator.clipboard && window.isSecureContext ?
      navigator.clipboard.writeText(text) : fallbackCopy(text);
    copying.then(function () {
      var original = button.getAttribute("data-label") || button.textContent;
      button.setAttribute("data-label", original);
      button.textContent = button.getAttribute("data-copied-label") || "Copied";
      button.setAttribute("data-copied", "true");
      window.setTimeout(function () {
        button.textContent = original;
        button.removeAttribute("data-copied");
      }, 1600);
    }, function () {
      button.setAttribute("data-copied", "false");
    });
  }

  function guardSubmit(event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) {
      return;
    }
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }
    if (form.hasAttribute("data-submit-once")) {
      if (form.getAttribute("data-submitted") === "true") {
        event.preventDefault();
        return;
      }
      form.setAttribute("data-submitted", "true");
      // Disable after this event so the clicked button's name/value is still submitted.
      window.setTimeout(function () {
        form.querySelectorAll("button[type=submit], input[type=submit], button:not([type])")
          .forEach(function (button) { button.disabled = true; });
      }, 0);
    }
  }

  document.addEventListener("click", openPopup);
  document.addEventListener("click", copyTarget);
  document.addEventListener("submit", guardSubmit);
}());
