/*
 * KCP SANDBOX payment-window script - an offline stand-in for KCP's payplus_web.jsp.
 * NOT KCP: nothing here reaches KCP and no real payment happens.
 *
 * Same contract as KCP's script (document 000):
 *   KCP_Pay_Execute(form)      opens the payment window over the page for the order form;
 *   m_Completepayment(FormOrJson, closeEvent)   (defined by the merchant page) is called when the
 *                              buyer finishes, with res_cd, res_msg, enc_data, enc_info, tran_cd,
 *                              ret_pay_method and use_pay_method filled in the form (and ordr_chk,
 *                              cash_yn, cash_tr_code, cash_id_info when the form has them);
 *   GetField(form, FormOrJson) copies those result fields into the merchant's form.
 */
(function (global) {
  "use strict";

  var WINDOW_URL = {{ window_url|tojson }};
  var SANDBOX_ORIGIN = new URL(WINDOW_URL, global.location.href).origin;
  var RESULT_FIELDS = ["res_cd", "res_msg", "enc_data", "enc_info", "tran_cd", "ret_pay_method", "use_pay_method"];
  // Filled too when the order form has them (KCP's sample template marks them "set by the window"):
  // ordr_chk = "ordr_idxx|good_mny" to check against the shop's own order, and the cash receipt's
  // cash_yn / cash_tr_code / cash_id_info.
  var OPTIONAL_FIELDS = ["ordr_chk", "cash_yn", "cash_tr_code", "cash_id_info"];
  var ALL_FIELDS = RESULT_FIELDS.concat(OPTIONAL_FIELDS);
  var overlay = null;
  var frame = null;
  var activeForm = null;
  var savedOverflow = "";

  function closeEvent() {
    if (overlay && overlay.parentNode) {
      overlay.parentNode.removeChild(overlay);
    }
    overlay = null;
    frame = null;
    activeForm = null;
    document.documentElement.style.overflow = savedOverflow;
  }

  function valueOf(source, name) {
    if (!source) { return undefined; }
    if (source.elements) {
      var field = source.elements[name];
      return field ? field.value : undefined;
    }
    return source[name];
  }

  function GetField(form, FormOrJson) {
    if (!form || !FormOrJson || form === FormOrJson) { return; }
    for (var i = 0; i < ALL_FIELDS.length; i++) {
      var name = ALL_FIELDS[i];
      var value = valueOf(FormOrJson, name);
      if (value !== undefined && value !== null && form.elements && form.elements[name]) {
        form.elements[name].value = value;
      }
    }
  }

  function collect(form) {
    var fields = [];
    for (var i = 0; i < form.elements.length; i++) {
      var el = form.elements[i];
      if (!el.name || el.disabled) { continue; }
      var type = (el.type || "").toLowerCase();
      if (type === "button" || type === "submit" || type === "reset" || type === "file" || type === "image") { continue; }
      if ((type === "checkbox" || type === "radio") && !el.checked) { continue; }
      if (el.name === "csrf_token") { continue; }
      fields.push([el.name, el.value]);
    }
    return fields;
  }

  function hidden(form, name, value) {
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    form.appendChild(input);
  }

  function KCP_Pay_Execute(form) {
    if (!form || !form.elements) {
      throw new Error("KCP_Pay_Execute(form): pass the order form, e.g. document.order_info");
    }
    if (overlay) { return; }
    activeForm = form;

    overlay = document.createElement("div");
    overlay.id = "kcp-sandbox-overlay";
    overlay.setAttribute("role", "dialog");
    overlay.setAttribute("aria-modal", "true");
    overlay.setAttribute("aria-label", "KCP sandbox payment window");
    overlay.style.cssText = "position:fixed;inset:0;z-index:2147483000;display:flex;align-items:center;" +
      "justify-content:center;background:rgba(15,23,42,.55);backdrop-filter:blur(2px);-webkit-backdrop-filter:blur(2px);";
    var name = "kcp_sandbox_window_" + new Date().getTime();
    frame = document.createElement("iframe");
    frame.name = name;
    frame.title = "KCP sandbox payment window";
    frame.style.cssText = "width:min(780px,calc(100vw - 24px));height:min(720px,calc(100vh - 24px));border:0;" +
      "border-radius:18px;background:#fff;box-shadow:0 30px 80px rgba(15,23,42,.35);";
    overlay.appendChild(frame);
    savedOverflow = document.documentElement.style.overflow;
    document.documentElement.style.overflow = "hidden";
    document.body.appendChild(overlay);

    var post = document.createElement("form");
    post.method = "post";
    post.action = WINDOW_URL;
    post.target = name;
    post.acceptCharset = "UTF-8";
    post.style.display = "none";
    var fields = collect(form);
    for (var i = 0; i < fields.length; i++) { hidden(post, fields[i][0], fields[i][1]); }
    hidden(post, "_sb_origin", global.location.origin);
    document.body.appendChild(post);
    post.submit();
    document.body.removeChild(post);
  }

  global.addEventListener("message", function (event) {
    if (!frame || event.source !== frame.contentWindow || event.origin !== SANDBOX_ORIGIN) { return; }
    var data = event.data;
    if (!data || data.kcpSandbox !== "result" || !data.result) { return; }
    var form = activeForm;
    for (var i = 0; i < ALL_FIELDS.length; i++) {
      var fieldName = ALL_FIELDS[i];
      if (form.elements[fieldName]) {
        form.elements[fieldName].value = data.result[fieldName] || "";
      } else if (global.console && RESULT_FIELDS.indexOf(fieldName) >= 0) {
        global.console.error("KCP sandbox: the order form has no <input name=\"" + fieldName + "\">; KCP's own script needs it too.");
      }
    }
    if (typeof global.m_Completepayment !== "function") {
      global.alert("KCP sandbox: define m_Completepayment(FormOrJson, closeEvent) before loading payplus_web.jsp (document 000).");
      closeEvent();
      return;
    }
    global.m_Completepayment(form, closeEvent);
  });

  global.KCP_Pay_Execute = KCP_Pay_Execute;
  global.GetField = GetField;
})(window);
