/* Live validation for the /kcp/params builder.

   On every change (debounced) the builder's fields are POSTed as JSON
   {"options": {name: value}} to the form's data-build-url with the page's CSRF token.
   The server runs kcp.params.validate_options and answers
   {"ok", "errors": [{field, value, rule, message}], "hidden_html", "order_html"};
   this script only displays that answer: the server is the authority, and without
   JavaScript the form posts normally and the page shows the same result. */
(function () {
  "use strict";

  var form = document.getElementById("param-builder");
  if (!form || !window.fetch) {
    return;
  }
  var statusEl = document.getElementById("builder-status");
  var errorsEl = document.getElementById("builder-errors");
  var snippetsEl = document.getElementById("builder-snippets");
  var hintEl = document.getElementById("builder-hint");
  var hiddenEl = document.getElementById("hidden-html");
  var orderEl = document.getElementById("order-html");
  var tokenMeta = document.querySelector('meta[name="csrf-token"]');
  var timer = null;
  var sequence = 0;

  function options() {
    var out = {};
    form.querySelectorAll("input[type=text]").forEach(function (input) {
      out[input.name] = input.value;
    });
    return out;
  }

  function setStatus(state, text) {
    statusEl.setAttribute("data-state", state);
    statusEl.textContent = text;
  }

  function clearFieldErrors() {
    form.querySelectorAll(".builder__field").forEach(function (box) {
      box.classList.remove("form-field--error");
      var input = box.querySelector("input");
      input.removeAttribute("aria-invalid");
      var message = box.querySelector(".builder__error");
      message.textContent = "";
      message.hidden = true;
    });
  }

  function showFieldError(error) {
    var box = form.querySelector('.builder__field[data-field="' + error.field + '"]');
    if (!box) {
      return;
    }
    box.classList.add("form-field--error");
    box.querySelector("input").setAttribute("aria-invalid", "true");
    var message = box.querySelector(".builder__error");
    message.textContent = message.textContent ? message.textContent + " · " + error.message : error.message;
    message.hidden = false;
    var group = box.closest("details");
    if (group) {
      group.open = true;
    }
  }

  function render(answer) {
    clearFieldErrors();
    errorsEl.innerHTML = "";
    hintEl.hidden = true;
    if (answer.ok) {
      setStatus("ok", statusEl.getAttribute("data-label-ok"));
      errorsEl.hidden = true;
      hiddenEl.textContent = answer.hidden_html;
      orderEl.textContent = answer.order_html;
      snippetsEl.hidden = false;
      return;
    }
    var errors = answer.errors || [];
    setStatus("errors", statusEl.getAttribute("data-label-errors").replace("{count}", String(errors.length)));
    errors.forEach(function (error) {
      var item = document.createElement("li");
      item.setAttribute("data-field", error.field);
      item.textContent = error.message;
      errorsEl.appendChild(item);
      showFieldError(error);
    });
    errorsEl.hidden = errors.length === 0;
    snippetsEl.hidden = true;
  }

  function check() {
    var mine = ++sequence;
    setStatus("checking", statusEl.getAttribute("data-label-checking"));
    fetch(form.getAttribute("data-build-url"), {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRFToken": tokenMeta ? tokenMeta.getAttribute("content") : ""
      },
      credentials: "same-origin",
      body: JSON.stringify({ options: options() })
    }).then(function (response) {
      if (response.status !== 200 && response.status !== 422) {
        throw new Error("HTTP " + response.status);
      }
      return response.json();
    }).then(function (answer) {
      if (mine === sequence) {  // an older, slower answer must not overwrite a newer one
        render(answer);
      }
    }).catch(function () {
      if (mine === sequence) {
        setStatus("failed", statusEl.getAttribute("data-label-failed"));
      }
    });
  }

  form.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(check, 300);
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    window.clearTimeout(timer);
    check();
  });
  check();
}());
