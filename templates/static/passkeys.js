// Passkeys (WebAuthn) on the hosted pages: sign in (a button, and autofill through conditional mediation),
// second factor, re-authentication and adding a passkey on the account page. Served from our own origin:
// the pages' Content-Security-Policy forbids inline script.
//
// Each button with data-purpose lives in a form that has a hidden "credential" input. A click asks the
// server for options (POST /passkeys/options, with the form's CSRF token), runs the browser's ceremony,
// puts the authenticator's response (as JSON) in the form and submits it: the server answers with a page
// or a redirect, as for a password. Without JavaScript or WebAuthn the buttons stay hidden and the
// password forms work as before.
(function () {
  "use strict";

  var status = document.getElementById("passkey-status");
  var autofill = null; // {controller, done}: the pending conditional (autofill) request, if any

  // The sentences, in the page's language, from the status element's data attributes (_passkey_status.html).
  function text(key, english) {
    return (status && status.dataset[key]) || english;
  }

  function say(message) {
    if (!status) return;
    status.textContent = message;
    status.hidden = !message;
  }

  function decode(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var raw = atob(b64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function encode(buffer) {
    if (!buffer) return null;
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      return { type: d.type, id: decode(d.id), transports: d.transports };
    });
  }

  function creationOptions(o) {
    var options = Object.assign({}, o);
    options.challenge = decode(o.challenge);
    options.user = Object.assign({}, o.user, { id: decode(o.user.id) });
    options.excludeCredentials = descriptors(o.excludeCredentials);
    return options;
  }

  function requestOptions(o) {
    var options = Object.assign({}, o);
    options.challenge = decode(o.challenge);
    options.allowCredentials = descriptors(o.allowCredentials);
    return options;
  }

  function asJSON(credential) {
    var r = credential.response;
    var response = { clientDataJSON: encode(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = encode(r.attestationObject);
      response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
    } else {
      response.authenticatorData = encode(r.authenticatorData);
      response.signature = encode(r.signature);
      response.userHandle = encode(r.userHandle);
    }
    return JSON.stringify({
      id: credential.id,
      rawId: encode(credential.rawId),
      type: credential.type,
      response: response,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
    });
  }

  function field(form, name) {
    var input = form.elements.namedItem(name);
    return input ? input.value : "";
  }

  function fetchOptions(form, purpose) {
    var body = new URLSearchParams({
      csrf_token: field(form, "csrf_token"),
      interaction: field(form, "interaction"),
      token: field(form, "token"),
      purpose: purpose,
    });
    return fetch("/passkeys/options", { method: "POST", body: body, credentials: "same-origin" }).then(
      function (response) {
        return response.json().then(
          function (json) {
            if (response.ok) return json;
            if (json.location) window.location.assign(json.location); // confirm it's you first
            throw new Error(json.error_description || text("refused", "The server refused the passkey request."));
          },
          function () {
            throw new Error(text("noAnswer", "The server is not answering. Try again in a moment."));
          }
        );
      }
    );
  }

  function explain(error, purpose) {
    var fallback = purpose === "register" ? "" : " " + text("fallback", "You can use your password instead.");
    switch (error && error.name) {
      case "NotAllowedError":
        return purpose === "register"
          ? text("notCreated", "No passkey was created: the request was cancelled or timed out.")
          : text(
              "notUsed",
              "No passkey was used: the request was cancelled or timed out, or this device has no passkey for " +
                "this account."
            ) + fallback;
      case "InvalidStateError":
        return text("exists", "This device already has a passkey for your account.");
      case "NotSupportedError":
        return text("unsupported", "This device cannot make a passkey of a kind this site accepts.") + fallback;
      case "SecurityError":
        return text("insecure", "Passkeys are not available on this address.") + fallback;
      default:
        return (error && error.message) || text("failed", "Something went wrong with the passkey.") + fallback;
    }
  }

  function stopAutofill() {
    if (!autofill) return Promise.resolve();
    var pending = autofill;
    autofill = null;
    pending.controller.abort();
    return pending.done; // settled (rejected with AbortError) before another request may start
  }

  function submitWith(form, credential) {
    form.elements.namedItem("credential").value = asJSON(credential);
    form.submit();
  }

  function ceremony(button) {
    var form = button.form;
    var purpose = button.dataset.purpose;
    if ((purpose === "reauth" || purpose === "reset") && !form.reportValidity()) return;
    say("");
    button.disabled = true;
    stopAutofill()
      .then(function () {
        return fetchOptions(form, purpose);
      })
      .then(function (options) {
        if (purpose === "register") {
          return navigator.credentials.create({ publicKey: creationOptions(options) });
        }
        return navigator.credentials.get({ publicKey: requestOptions(options) });
      })
      .then(function (credential) {
        if (!credential) throw new Error(text("noneUsed", "No passkey was used."));
        submitWith(form, credential);
      })
      .catch(function (error) {
        button.disabled = false;
        say(explain(error, purpose));
      });
  }

  function startAutofill(button) {
    var form = button.form;
    var controller = new AbortController();
    var done = fetchOptions(form, "sign-in")
      .then(function (options) {
        return navigator.credentials.get({
          mediation: "conditional",
          publicKey: requestOptions(options),
          signal: controller.signal,
        });
      })
      .then(function (credential) {
        if (credential && autofill && autofill.controller === controller) submitWith(form, credential);
      })
      .catch(function () {
        // Aborted for the button, or autofill unavailable: the button and the password still work.
      });
    autofill = { controller: controller, done: done };
  }

  var buttons = Array.prototype.slice.call(document.querySelectorAll("button[data-purpose]"));
  if (!buttons.length) return;
  if (!window.PublicKeyCredential || !navigator.credentials) {
    if (document.querySelector("[data-passkey-needed]")) {
      say(text("noBrowser", "This browser cannot use passkeys. Use another factor, or another browser."));
    }
    return;
  }
  buttons.forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      ceremony(button);
    });
  });
  var signin = document.getElementById("passkey-signin");
  if (signin && typeof PublicKeyCredential.isConditionalMediationAvailable === "function") {
    PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
      if (available) startAutofill(signin);
    });
  }
})();
