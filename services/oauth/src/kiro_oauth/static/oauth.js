/* Kiro2API accounts page: device sign-in (Builder ID / IAM Identity Center), Google / GitHub with a
 * pasted redirect URL, and import. Every call sends the session's CSRF token; nothing here ever
 * sees a token: the server hands credentials straight to the broker. */
(function () {
  "use strict";

  var $ = function (id) { return document.getElementById(id); };
  var meta = document.querySelector('meta[name="csrf-token"]');
  var CSRF = meta ? meta.getAttribute("content") : "";

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": CSRF },
      body: JSON.stringify(body || {}),
    }).then(function (resp) {
      if (resp.status === 401) { location.href = "/?next=/oauth"; throw new Error("signed out"); }
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (!resp.ok && !(data && data.results)) {
          var msg = (data && data.error && data.error.message) || (data && data.detail && JSON.stringify(data.detail)) ||
            "request failed (" + resp.status + ")";
          throw new Error(msg);
        }
        return data;
      });
    });
  }

  function result(box, kind, text) {
    box.textContent = "";
    var r = el("div", "result " + kind, text);
    r.dataset.state = kind;
    box.appendChild(r);
    return r;
  }

  /* ------------------------------------------------------------------ device authorization */
  function deviceFlow(form, box) {
    var timer = null;
    var flowId = null;
    var button = form.querySelector("button[type=submit]");

    function stop() { if (timer) clearTimeout(timer); timer = null; button.disabled = false; }

    function show(flow) {
      box.className = "device";
      box.textContent = "";
      box.appendChild(el("p", "small", "1. Open the verification page and confirm this code:"));
      var code = el("div", "user-code", flow.user_code);
      code.dataset.userCode = flow.user_code;
      box.appendChild(code);
      var link = el("a", null, flow.verification_uri_complete || flow.verification_uri);
      link.href = flow.verification_uri_complete || flow.verification_uri;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.className = "verification-link";
      var p = el("p", "link-box"); p.appendChild(link); box.appendChild(p);
      box.appendChild(el("p", "small", "2. Keep this page open: the account is added as soon as you approve."));
      var status = el("div", "device-status");
      box.appendChild(status);
      var cancel = el("button", "ghost", "Cancel");
      cancel.type = "button";
      cancel.addEventListener("click", function () {
        stop();
        post("/oauth/api/device/" + flowId + "/cancel").catch(function () {});
        result(status, "bad", "Cancelled.");
      });
      box.appendChild(cancel);
      return { status: status, cancel: cancel };
    }

    function render(ui, flow) {
      if (flow.status === "pending") {
        result(ui.status, "wait", "Waiting for approval… (code valid for " + Math.ceil(flow.expires_in / 60) + " min" +
          (flow.message ? "; " + flow.message : "") + ")");
        timer = setTimeout(function () { poll(ui); }, Math.max(1000, flow.retry_in * 1000));
        return;
      }
      ui.cancel.remove();
      button.disabled = false;
      if (flow.status === "done") result(ui.status, "ok", "Account added: " + flow.credential_id + ". It now appears on the pool page.");
      else result(ui.status, "bad", flow.message || flow.status);
    }

    function poll(ui) {
      post("/oauth/api/device/" + flowId + "/poll").then(function (flow) { render(ui, flow); })
        .catch(function (err) { stop(); result(ui.status, "bad", err.message); });
    }

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      stop();
      button.disabled = true;
      var body = { kind: form.dataset.kind };
      if (form.dataset.kind === "idc") {
        body.start_url = form.elements.start_url.value;
        body.region = form.elements.region.value;
      }
      box.className = "device";
      result(box, "wait", "Starting…");
      post("/oauth/api/device/start", body).then(function (flow) {
        flowId = flow.flow_id;
        render(show(flow), flow);
      }).catch(function (err) { button.disabled = false; result(box, "bad", err.message); });
    });
  }

  deviceFlow($("builder-form"), $("builder-device"));
  deviceFlow($("idc-form"), $("idc-device"));

  /* ------------------------------------------------------------------ social */
  Array.prototype.forEach.call(document.querySelectorAll("button[data-idp]"), function (btn) {
    btn.addEventListener("click", function () {
      var box = $("social-result");
      box.textContent = "";
      post("/oauth/api/social/start", { idp: btn.dataset.idp }).then(function (data) {
        var link = $("social-link");
        link.href = data.login_url;
        link.textContent = "Sign in with " + (btn.dataset.idp === "Github" ? "GitHub" : "Google") + " (opens the Kiro portal)";
        $("social-step").className = "";
        $("social-url").value = "";
        $("social-url").focus();
      }).catch(function (err) { result(box, "bad", err.message); });
    });
  });

  $("social-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var box = $("social-result");
    var finish = $("social-finish");
    finish.disabled = true;
    result(box, "wait", "Checking the account…");
    post("/oauth/api/social/complete", { redirect_url: $("social-url").value }).then(function (data) {
      result(box, "ok", "Account added: " + data.credential_id + ". It now appears on the pool page.");
      $("social-step").className = "hidden";
    }).catch(function (err) { result(box, "bad", err.message); })
      .then(function () { finish.disabled = false; });
  });

  /* ------------------------------------------------------------------ import */
  function readFile(input) {
    return new Promise(function (resolve, reject) {
      var file = input.files && input.files[0];
      if (!file) { resolve(null); return; }
      if (file.size > 1024 * 1024) { reject(new Error(file.name + " is larger than 1 MiB")); return; }
      var reader = new FileReader();
      reader.onload = function () { resolve(String(reader.result)); };
      reader.onerror = function () { reject(new Error("could not read " + file.name)); };
      reader.readAsText(file);
    });
  }

  $("import-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var box = $("import-result");
    Promise.all([readFile($("import-file")), readFile($("import-reg-file"))]).then(function (files) {
      var text = files[0] || $("import-json").value;
      result(box, "wait", "Checking…");
      return post("/oauth/api/import", { credentials: text, client_registration: files[1] });
    }).then(function (data) {
      box.textContent = "";
      (data.results || []).forEach(function (r) {
        var line = r.ok ? "Entry " + r.index + ": added " + r.credential_id : "Entry " + r.index + ": " + r.message;
        box.appendChild(el("div", "result " + (r.ok ? "ok" : "bad"), line));
      });
      if (data.ok) { $("import-json").value = ""; $("import-file").value = ""; $("import-reg-file").value = ""; }
    }).catch(function (err) { result(box, "bad", err.message); });
  });
})();
